// The connections "table": the JSON file connections.json in the folder named by TABLE_DIR.
// On AWS, simple-websockets-chat-app keeps its connectionIds in a DynamoDB table; here each
// function runs in processes of its own (as on Lambda), so the list must live outside them,
// and a file stands in for the table. A change is read-modify-write under a lock (a
// directory, which mkdir creates atomically) and written to a temporary file renamed over
// the old one, so no reader ever sees half a file and no two writers lose each other's
// change.
import { mkdir, readFile, rename, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const folder = process.env.TABLE_DIR;
const file = join(folder, "connections.json");
const lock = join(folder, "connections.lock");
const STALE_LOCK_MS = 2000; // a lock left by a killed process is broken after this

export async function scan() {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
}

async function change(update) {
  await mkdir(folder, { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      const held = await stat(lock).catch(() => null);
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) await rmdir(lock).catch(() => {});
      else await sleep(5);
    }
  }
  try {
    const ids = update(await scan());
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(ids));
    await rename(temporary, file);
  } finally {
    await rmdir(lock);
  }
}

export const put = (connectionId) =>
  change((ids) => (ids.includes(connectionId) ? ids : [...ids, connectionId]));

export const remove = (connectionId) => change((ids) => ids.filter((id) => id !== connectionId));

// The resolve hook node-path.mjs registers: a bare specifier Node cannot find from the
// importing module is looked up in each `.../node_modules` folder of NODE_PATH, in order.
import path from "node:path";
import { pathToFileURL } from "node:url";

let parents = [];

export function initialize({ paths }) {
  // Resolving from a module that sits beside a node_modules folder searches that folder.
  parents = paths
    .filter((folder) => path.basename(folder) === "node_modules")
    .map((folder) => pathToFileURL(path.join(path.dirname(folder), "noop.mjs")).href);
}

function isBare(specifier) {
  return !/^[./]/.test(specifier) && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !isBare(specifier)) throw error;
    for (const parentURL of parents) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch {
        // not in this folder: the next one
      }
    }
    throw error;
  }
}

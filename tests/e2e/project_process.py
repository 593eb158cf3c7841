"""``wsgate serve`` run on a project folder as a real process, until the test is done."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import websockets
from websockets.exceptions import InvalidStatus


_LISTENING = re.compile(r"ws://127\.0\.0\.1:(\d+)/(\S+)")
START_TIMEOUT = 60.0
"""Seconds until the gateway listens (creating tables and importing boto3 included)."""
BOUND = 30.0
"""Seconds a line the test waits for has to show in the log."""


@dataclass
class Served:
    process: asyncio.subprocess.Process
    port: int
    stage: str
    log: list[str]
    """Its standard error, line by line, as it comes."""

    def url(self, query: str = "", *, stage: str | None = None) -> str:
        url = f"ws://127.0.0.1:{self.port}/{stage or self.stage}"
        return url + (f"?{query}" if query else "")

    def text(self) -> str:
        return "".join(self.log)

    async def logged(self, *parts: str, after: int = 0) -> int:
        """The index of the first line from ``after`` on holding every one of ``parts``."""
        try:
            async with asyncio.timeout(BOUND):
                while True:
                    for index in range(after, len(self.log)):
                        if all(part in self.log[index] for part in parts):
                            return index
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"no line with {parts} in:\n" + self.text()) from None


async def refused(url: str, **headers: str) -> int:
    """The status a WebSocket handshake to ``url`` is refused with (``headers`` sent)."""
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=20):
            pass
    except InvalidStatus as refusal:
        return refusal.response.status_code
    raise AssertionError(f"{url} accepted the handshake")


def project_env() -> dict[str, str]:
    """The environment a user has: credentials, no instance metadata."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in list(env):
        if name == "AWS_CA_BUNDLE" or name.startswith("AWS_ENDPOINT_URL"):
            env.pop(name)
    return env


async def run_wsgate(folder: Path, *args: str) -> tuple[int, str]:
    """``wsgate ARGS`` in ``folder`` until it exits: its status and standard error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        *args,
        cwd=folder,
        env=project_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(START_TIMEOUT):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


@asynccontextmanager
async def serve_project(
    folder: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
) -> AsyncIterator[Served]:
    """``wsgate serve`` in ``folder`` (its project file found there) on free ports, with
    ``env`` added to the user's environment and ``unset`` taken out of it.

    At the end it is stopped with SIGINT and must exit with 0, unless the test stopped
    it already (then only the status is checked).
    """
    environment = {**project_env(), **(env or {})}
    for name in unset:
        environment.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "serve",
        "--port",
        "0",
        "--tls-port",  # a project's default is 8443: tests may run side by side
        "0",
        *extra,
        cwd=folder,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log: list[str] = []
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = (await process.stderr.readline()).decode()
                assert line, "wsgate exited:\n" + "".join(log)
                log.append(line)
                found = _LISTENING.search(line)
                if found:
                    break
        reader = asyncio.ensure_future(_drain(process.stderr, log))
        yield Served(process, int(found.group(1)), found.group(2), log)
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            assert await process.wait() == 0, "".join(log)
        await reader
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode())

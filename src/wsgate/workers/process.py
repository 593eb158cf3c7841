"""A runtime process at the OS level: spawn it in a group of its own, read its output,
signal the group, and say how it ended."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from wsgate.workers.logs import LineBuffer


__all__ = ["OutputPipe", "exit_reason", "signal_group", "spawn"]

_READ_CHUNK = 65536


def exit_reason(returncode: int) -> str:
    """How a process ended, worded as Lambda words it: ``exit status 1``, ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name[:1].lower()}{name[1:]}"


def signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the process group ``pid`` leads; nothing if it is gone."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class OutputPipe:
    """The read end of a worker's stdout or stderr: whole lines go to ``on_line``.

    Read as data comes (a reader on the event loop) and, at once, by ``drain()``: an
    invocation's answer drains its worker's pipes first, so everything it printed before
    answering is logged before its ``END`` line.
    """

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._on_line = on_line
        self._lines = LineBuffer()
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read whenever data comes, until the other end is closed."""
        self._loop = loop
        loop.add_reader(self.fd, self._readable)

    def drain(self) -> None:
        """Read and log whatever the pipe holds now."""
        for _ in range(64):  # at most 4 MiB at once; the reader takes the rest
            if not self._read_once():
                break

    def close(self) -> None:
        """Stop reading; a last line without its line end is logged."""
        if self.fd < 0:
            return
        self.drain()
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1
        for line in self._lines.close():
            self._on_line(line)

    def _readable(self) -> None:
        if not self._read_once() and self._loop is not None and self.fd >= 0:
            self._loop.remove_reader(self.fd)

    def _read_once(self) -> bool:
        """Read one chunk; False when nothing more is there now (or ever)."""
        if self.fd < 0:
            return False
        try:
            data = os.read(self.fd, _READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            return False
        for line in self._lines.feed(data):
            self._on_line(line)
        return True


async def spawn(
    command: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_stdout: Callable[[str], None],
    on_stderr: Callable[[str], None],
) -> tuple[asyncio.subprocess.Process, list[OutputPipe]]:
    """Start ``command`` in a new session (its own process group) with piped output.

    The group is what a kill reaches: the runtime and whatever it started. The pipes are
    the worker's own, read with the loop's readers, so that they can also be drained at
    once (``OutputPipe.drain``).

    Raises:
        OSError: the program or the folder cannot be used.
    """
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=out_write,
            stderr=err_write,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except BaseException:
        for fd in (out_read, err_read):
            os.close(fd)
        raise
    finally:
        os.close(out_write)
        os.close(err_write)
    return process, [OutputPipe(out_read, on_stdout), OutputPipe(err_read, on_stderr)]

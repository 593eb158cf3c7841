"""A function's log as CloudWatch shows it, written to the ``wsgate.function`` logger.

Every record is ``<function> <request id> <text>``: what the worker printed (one record
per line; awslambdaric joins the lines of an error with ``\\r``, which become line
breaks again) and the platform's own lines, which the runtimes never print::

    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>\\tDuration: 2.75 ms\\tBilled Duration: 3 ms\\tMemory Size: 128 MB\\t
        Max Memory Used: 56 MB\\tInit Duration: 113.51 ms

``Init Duration`` only on an environment's first invocation; ``Max Memory Used`` is the
worker's peak resident size (``VmHWM`` in ``/proc/<pid>/status``). Output read outside
any invocation (while the code is imported) carries ``-`` for the request id; output
read after an invocation ended, before the next began, carries the ended one's id.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from pathlib import Path


__all__ = ["FunctionLog", "LineBuffer", "billed_ms", "max_memory_mb", "report_line"]

log = logging.getLogger("wsgate.function")

MAX_LINE_BYTES = 256 * 1024
"""A longer line is logged in pieces of this size, so output cannot grow without bound."""


def billed_ms(duration_ms: float) -> int:
    """Billed duration: the duration rounded up to the millisecond (15.74 → 16)."""
    return max(1, math.ceil(duration_ms))


def max_memory_mb(pid: int | None) -> int:
    """The process's peak resident set size in MB (``VmHWM``, rounded up); 0 if unknown."""
    if pid is None:
        return 0
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return math.ceil(int(fields[1]) / 1024)
    return 0


def report_line(
    request_id: str,
    duration_ms: float,
    memory_size: int,
    max_memory_used: int,
    init_duration_ms: float | None = None,
    status: str | None = None,
) -> str:
    """The ``REPORT`` line of one invocation, fields separated by tabs as Lambda's."""
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed_ms(duration_ms)} ms",
        f"Memory Size: {memory_size} MB",
        f"Max Memory Used: {max_memory_used} MB",
    ]
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    return "\t".join(fields)


class FunctionLog:
    """The log of one worker of a function: its output and the platform's lines."""

    def __init__(self, function: str) -> None:
        self.function = function
        self.request_id: str | None = None
        """The invocation output is attributed to: the running one, or the last one."""

    @property
    def enabled(self) -> bool:
        """Whether the platform's lines (START, END, REPORT) are recorded: INFO enabled on
        ``wsgate.function``. When not, their fields need not be gathered."""
        return log.isEnabledFor(logging.INFO)

    def output(self, text: str) -> None:
        """One line the worker printed."""
        log.info("%s %s %s", self.function, self.request_id or "-", text.replace("\r", "\n"))

    def platform(self, request_id: str, text: str, level: int = logging.INFO) -> None:
        """A line of the platform's about one invocation."""
        log.log(level, "%s %s %s", self.function, request_id, text)

    def start(self, request_id: str) -> None:
        """``START``: the invocation was handed to the runtime."""
        self.request_id = request_id
        self.platform(request_id, f"START RequestId: {request_id} Version: $LATEST")

    def end(self, request_id: str, report: str) -> None:
        """``END`` and ``REPORT``: the invocation is over, whichever way."""
        self.platform(request_id, f"END RequestId: {request_id}")
        self.platform(request_id, report)

    def timed_out(self, request_id: str, seconds: float) -> None:
        """Lambda's timeout line, ``<time> <id> Task timed out after 3.00 seconds``."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.platform(
            request_id,
            f"{now} {request_id} Task timed out after {seconds:.2f} seconds",
            logging.WARNING,
        )

    def failed(self, request_id: str, error_type: str, message: str) -> None:
        """The platform's line for an invocation its runtime did not answer."""
        self.platform(
            request_id, f"RequestId: {request_id} Error: {message}\n{error_type}", logging.ERROR
        )

    def init_failed(self, error_type: str, message: str, trace: list[str]) -> None:
        """An init error, once, with the traceback the runtime posted."""
        lines = [f"INIT failed: {error_type}: {message}" if error_type else message]
        if trace:
            lines.append("Traceback (most recent call last):")
            lines.extend(entry.rstrip("\n") for entry in trace)
        log.error("%s %s %s", self.function, "-", "\n".join(lines))


class LineBuffer:
    """Bytes from a pipe in, whole lines out (a partial line waits for its end)."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        """The complete lines in what came so far, without their line ends."""
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        while len(self._partial) > MAX_LINE_BYTES:
            lines.append(self._partial[:MAX_LINE_BYTES])
            self._partial = self._partial[MAX_LINE_BYTES:]
        return [_text(line) for line in lines]

    def close(self) -> list[str]:
        """What is left once the pipe closed: a last line without its end."""
        rest, self._partial = self._partial, b""
        return [_text(rest)] if rest else []


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")

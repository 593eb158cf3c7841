"""One invocation on its way through a pool: its event, its deadline and its future."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Protocol


__all__ = ["Invocation", "InvocationHolder", "trace_header"]


def trace_header(now: float | None = None) -> str:
    """A fresh X-Ray trace header, ``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0``."""
    epoch = int(time.time() if now is None else now)
    return f"Root=1-{epoch:08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class InvocationHolder(Protocol):
    """What an invocation knows of the worker it was given to (a ``Worker``)."""

    def abort(self, invocation: Invocation) -> None:
        """``invocation``'s caller gave up: drop it, or kill the process running it."""
        ...


class Invocation:
    """An event for a function, and the future its caller waits on.

    The future is the pool's answer to ``Integration.invoke``: resolved with the
    function's result, set with a ``FunctionError``, or cancelled by the caller (at its
    deadline), which kills the worker running it.
    """

    __slots__ = (
        "body",
        "client_context",
        "deadline",
        "deadline_ms",
        "future",
        "request_id",
        "started",
        "timeout",
        "worker",
    )

    def __init__(
        self,
        request_id: str,
        body: bytes,
        deadline: float,
        future: asyncio.Future[object],
        client_context: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.body = body
        """The event, as JSON."""
        self.client_context = client_context
        """The caller's client context, as JSON text (ASCII), or None."""
        now = time.monotonic()
        self.deadline = deadline
        """The caller's deadline, on ``time.monotonic()``'s clock."""
        self.deadline_ms = int((time.time() + (deadline - now)) * 1000)
        """The deadline in Unix epoch milliseconds: ``Lambda-Runtime-Deadline-Ms``."""
        self.timeout = max(0.0, deadline - now)
        """Seconds it was given, for the log's "Task timed out after" line."""
        self.future = future
        self.worker: InvocationHolder | None = None
        """The worker it was given to; None while it waits for one."""
        self.started: float | None = None
        """When its runtime received it (``time.monotonic()``); None before."""

    def headers(self, function_arn: str) -> dict[str, str]:
        """The headers of the ``/next`` answer that hands it out."""
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": function_arn,
            "Lambda-Runtime-Trace-Id": trace_header(),
        }
        if self.client_context is not None:
            # The runtimes make it context.client_context (Python), clientContext (Node).
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        return headers

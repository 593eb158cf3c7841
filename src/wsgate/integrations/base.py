"""The seam every integration implements: an event in, the handler's result out."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import NamedTuple, Protocol


__all__ = ["Event", "Integration", "InvokeContext"]

Event = dict[str, object]


class InvokeContext(NamedTuple):
    """What one invocation carries besides its event.

    A named tuple: one is made per invocation, on the per-message path, where
    ``tuple.__new__`` makes it without a Python-level call.
    """

    request_id: str
    """The invocation's id: the Lambda context's ``aws_request_id``."""
    deadline: float
    """When the integration's ``timeout`` runs out, on ``time.monotonic()``'s clock."""


class Integration(Protocol):
    """One handler, however it is reached (in-process, a worker process, HTTP, Lambda).

    Deliberately one call: timeouts, eager running of handlers that answer at once, and
    the naming of failures are the caller's (``integrations.handler.Handler``), the same
    for every integration.
    """

    name: str
    """A short name for logs: the handler reference."""

    timeout: float
    """Seconds a single invocation may take."""

    def invoke(self, event: Event, context: InvokeContext) -> Awaitable[object]:
        """Begin the handler on ``event``; the awaitable gives what it returned.

        The awaitable is a coroutine, which the caller may run in part at once, or an
        ``asyncio.Future`` of a call already running elsewhere (a thread, a process).
        Whatever it raises is the handler's failure. The caller cancels it at the
        deadline or when nobody waits any more; the integration must then stop the call
        (or leave it harmless).
        """
        ...

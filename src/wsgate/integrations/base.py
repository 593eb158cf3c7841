"""The seam every integration implements: take an event, return the handler's result."""

from __future__ import annotations

import asyncio
from typing import Protocol


__all__ = ["Event", "Integration", "Returned"]

Event = dict[str, object]


class Returned:
    """What a handler returned, when the call finished at once (see ``Integration.start``)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Integration(Protocol):
    """One route's handler, however it is reached (in-process, HTTP, Lambda, mock).

    A call is either awaited whole (``invoke``) or split in two (``start``, then ``outcome``
    once the call is done), so that the per-message path needs no task of its own for a
    handler that answers at once.
    """

    name: str
    """A short name for logs: the handler reference."""

    timeout: float
    """Seconds a single invocation may take."""

    async def invoke(self, event: Event, request_id: str) -> object:
        """Run the handler on ``event`` and return what it returned.

        Cancelling the awaiting task cancels the handler.

        Raises:
            IntegrationTimeout: the handler ran past ``timeout``.
            HandlerFailed: the handler raised.
        """
        ...

    def start(self, event: Event, request_id: str) -> Returned | asyncio.Future[object]:
        """Start the handler on ``event``.

        Returns ``Returned`` when the handler finished at once, else a future that is done
        when the call is: pass that future to ``outcome``, exactly once, whatever happened.

        Raises:
            HandlerFailed: the handler raised before it first had to wait.
        """
        ...

    def outcome(self, call: asyncio.Future[object]) -> object:
        """What the handler returned, for a done future from ``start``.

        Raises:
            IntegrationTimeout: the handler ran past ``timeout``.
            HandlerFailed: the handler raised (or was cancelled by someone else).
        """
        ...

"""The seam every integration implements: take an event, return the handler's result."""

from __future__ import annotations

import asyncio
from typing import Protocol


__all__ = ["Event", "Integration", "Returned", "Suspended"]

Event = dict[str, object]


class Returned:
    """What a handler returned, when it finished inside ``Integration.start``."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Suspended:
    """A handler that began in the calling task and now waits.

    It may hold on to that task (``asyncio.timeout`` does), so the same task must finish
    it, with ``Integration.finish``. Integrations subclass it to keep what they need.
    """

    __slots__ = ()


class Integration(Protocol):
    """One route's handler, however it is reached (in-process, HTTP, Lambda, mock).

    A call is either awaited whole (``invoke``) or begun with ``start``, so that the
    per-message path needs no task of its own for a handler that answers at once.
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

    def start(self, event: Event, request_id: str) -> Returned | Suspended | asyncio.Future[object]:
        """Begin the handler on ``event``, in the calling task.

        Returns what comes of it so far:

        - ``Returned``: the handler finished; its value is the result.
        - ``Suspended``: it waits and this task must finish it with ``finish``.
        - a future: it runs elsewhere (a thread, another service); once the future is
          done, pass it to ``outcome``, exactly once, whatever happened.

        Raises:
            HandlerFailed: the handler raised before it first had to wait.
        """
        ...

    async def finish(self, call: Suspended) -> object:
        """Finish a ``Suspended`` call, in the task that started it; its result.

        Raises:
            IntegrationTimeout: the handler ran past ``timeout``.
            HandlerFailed: the handler raised.
        """
        ...

    def outcome(self, call: asyncio.Future[object]) -> object:
        """What the handler returned, for a done future from ``start``.

        Raises:
            IntegrationTimeout: the handler ran past ``timeout``.
            HandlerFailed: the handler raised (or was cancelled by someone else).
        """
        ...

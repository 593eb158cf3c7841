"""The seam every integration implements: take an event, return the handler's result."""

from __future__ import annotations

from typing import Protocol


__all__ = ["Event", "Integration"]

Event = dict[str, object]


class Integration(Protocol):
    """One route's handler, however it is reached (in-process, HTTP, Lambda, mock)."""

    name: str
    """A short name for logs: the handler reference."""

    timeout: float
    """Seconds a single invocation may take."""

    async def invoke(self, event: Event, request_id: str) -> object:
        """Run the handler on ``event`` and return what it returned.

        Raises:
            IntegrationTimeout: the handler ran past ``timeout``.
            HandlerFailed: the handler raised.
        """
        ...

"""A route's or authorizer's integration with a function run in worker processes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from wsgate.integrations.base import Event, InvokeContext


if TYPE_CHECKING:
    from wsgate.workers.pool import FunctionPool


__all__ = ["FunctionIntegration"]


class FunctionIntegration:
    """``Integration`` for a function: its pool's ``invoke``, with the route's timeout.

    The future it returns is resolved by the worker's Runtime API; the caller
    (``Handler``) cancels it at the deadline, which kills the worker running it.
    """

    def __init__(self, pool: FunctionPool, timeout: float) -> None:
        self.name = pool.name
        self.timeout = timeout
        self.pool = pool

    def invoke(self, event: Event, context: InvokeContext) -> asyncio.Future[object]:
        """Begin the function on ``event``; see ``Integration.invoke``."""
        return self.pool.invoke(event, context)

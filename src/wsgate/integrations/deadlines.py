"""Handler timeouts with one timer for all invocations.

``asyncio.timeout`` arms a timer per call: a heap push, and a cancelled handle left behind
when the handler returns in time, which is nearly always. At tens of thousands of messages
a second that is one of the largest costs of a round trip. Here a deadline is a dict entry,
and a single sweep every ``resolution`` seconds cancels the calls that are overdue; a
timeout fires at most ``resolution`` late, which is nothing next to AWS's 29 s.
"""

from __future__ import annotations

import asyncio
from typing import Any


__all__ = ["DeadlineWatch"]


class DeadlineWatch:
    """Cancels watched calls (futures or tasks) once their ``loop.time()`` deadline passed.

    Whoever watches a call must ``release`` it once it is done, to learn whether it was
    cancelled for being late.
    """

    def __init__(self, resolution: float = 0.05) -> None:
        self._resolution = resolution
        self._deadlines: dict[asyncio.Future[Any], float] = {}
        self._expired: set[asyncio.Future[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, call: asyncio.Future[Any], deadline: float) -> None:
        """Cancel ``call`` if it is still running and watched at ``deadline``."""
        self._deadlines[call] = deadline
        if self._timer is None:
            loop = call.get_loop()
            self._timer = loop.call_at(loop.time() + self._resolution, self._sweep, loop)

    def release(self, call: asyncio.Future[Any]) -> bool:
        """Stop watching ``call``; True when it was cancelled for running past its deadline."""
        if self._deadlines.pop(call, None) is not None:
            return False
        if call in self._expired:
            self._expired.discard(call)
            return True
        return False

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        # A call that finished in time but was not released yet is not late.
        overdue = [
            call
            for call, deadline in self._deadlines.items()
            if deadline <= now and not call.done()
        ]
        for call in overdue:
            del self._deadlines[call]
            self._expired.add(call)
            call.cancel()
        self._timer = (
            loop.call_at(now + self._resolution, self._sweep, loop) if self._deadlines else None
        )

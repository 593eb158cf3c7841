"""Handler timeouts with one timer for all invocations.

``asyncio.timeout`` arms a timer per call: a heap push, and a cancelled handle left behind
when the handler returns in time, which is nearly always. At tens of thousands of messages
a second that is one of the largest costs of a round trip. Here a deadline is a dict entry,
and a single sweep every ``resolution`` seconds cancels the tasks that are overdue; a
timeout fires at most ``resolution`` late, which is nothing next to AWS's 29 s.
"""

from __future__ import annotations

import asyncio
from typing import Any


__all__ = ["DeadlineWatch"]


class DeadlineWatch:
    """Cancels watched tasks once their deadline (a ``loop.time()`` value) has passed."""

    def __init__(self, resolution: float = 0.05) -> None:
        self._resolution = resolution
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any], deadline: float) -> None:
        """Cancel ``task`` if it is still watched at ``deadline``."""
        self._deadlines[task] = deadline
        if self._timer is None:
            loop = task.get_loop()
            self._timer = loop.call_at(loop.time() + self._resolution, self._sweep, loop)

    def release(self, task: asyncio.Task[Any]) -> bool:
        """Stop watching ``task``; True when it was cancelled for running past its deadline."""
        if self._deadlines.pop(task, None) is not None:
            return False
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        overdue = [task for task, deadline in self._deadlines.items() if deadline <= now]
        for task in overdue:
            del self._deadlines[task]
            self._expired.add(task)
            task.cancel()
        self._timer = (
            loop.call_at(now + self._resolution, self._sweep, loop) if self._deadlines else None
        )

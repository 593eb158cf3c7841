"""Handlers that hold the event loop: an ``async def`` handler making a blocking call.

While an ``async def`` handler runs a step (the code between two awaits), nothing else on
the loop moves: every connection waits. A step longer than ``threshold`` is logged with
the handler and how long it held the loop, once per handler per ``interval``, so that a
``time.sleep`` or a synchronous HTTP call in an async handler is found, not guessed.
"""

from __future__ import annotations

import logging
import time


__all__ = ["BlockingWatch"]

log = logging.getLogger("wsgate.handlers")


class BlockingWatch:
    """Told the start of every handler step on the loop, it reports the long ones."""

    __slots__ = ("_interval", "_reported", "threshold")

    def __init__(self, threshold: float = 0.1, interval: float = 60.0) -> None:
        self.threshold = threshold
        """Seconds a step may hold the loop before it is reported."""
        self._interval = interval
        self._reported: dict[str, float] = {}
        """Handler name → when it was last reported (time.monotonic())."""

    def check(self, name: str, started: float) -> None:
        """A step of handler ``name`` that began at ``started`` (time.monotonic()) ended."""
        now = time.monotonic()
        held = now - started
        if held < self.threshold:
            return
        if now - self._reported.get(name, -self._interval) < self._interval:
            return
        self._reported[name] = now
        log.warning(
            "handler %s held the event loop for %.0f ms: an async def handler must not "
            "make blocking calls (make it a plain def, or await asyncio.to_thread(...))",
            name,
            held * 1000,
        )

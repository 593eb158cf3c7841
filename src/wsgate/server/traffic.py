"""What a running gateway is doing now: its connections, their tasks, whether it drains,
and what each source address holds.

Kept apart from ``Gateway``, which is the wiring built once from the config and never
changes after start.
"""

from __future__ import annotations

import asyncio

from wsgate.core.throttle import TokenBucket


__all__ = ["MAX_SOURCES", "SourceLimits", "Traffic"]


class Traffic:
    """The gateway's moving parts, on its loop."""

    __slots__ = ("connections", "draining", "sources", "tasks")

    def __init__(self) -> None:
        self.connections = 0
        """Handshakes in progress plus established connections in this process."""
        self.draining = False
        """Set at shutdown: new handshakes are refused."""
        self.tasks: set[asyncio.Task[None]] = set()
        """Each connection's task, from its handshake to its ``$disconnect``, and each
        management call that had to wait: what a shutdown waits for."""
        self.sources: SourceLimits | None = None
        """Each source address's connections and upgrade rate (``server``'s limits),
        made by the first handshake."""

    def track(self, task: asyncio.Task[None]) -> None:
        """Hold ``task`` until it is done, for the shutdown to wait for."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def admit(self, cap: int | None) -> bool:
        """Count one more connection unless ``cap`` is reached; whether it was counted."""
        if cap is not None and self.connections >= cap:
            return False
        self.connections += 1
        return True

    def release(self) -> None:
        """A connection counted by ``admit`` is over."""
        self.connections -= 1


MAX_SOURCES = 65536
"""Most addresses the per-address table holds; past it, those holding no connection are
forgotten at once (a client with many addresses, IPv6's, cannot grow it without bound)."""


class _Source:
    """One address: its open connections and its token bucket (None: no rate limit)."""

    __slots__ = ("bucket", "open")

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.open = 0
        self.bucket = bucket


class SourceLimits:
    """How many connections each source address holds, and how fast it opens new ones.

    ``max_open`` caps the connections (handshakes under way and open ones) of one
    address; ``rate`` and ``burst`` make its token bucket: ``burst`` upgrades at once,
    then ``rate`` a second. None turns either limit off. An address holding no connection
    whose bucket has filled up again is the same as one never seen, so it is forgotten:
    swept at most once per refill time, and at once when the table reaches
    ``max_sources``. Times are ``time.monotonic()`` seconds, passed in.
    """

    __slots__ = (
        "_burst",
        "_max_open",
        "_max_sources",
        "_next_sweep",
        "_rate",
        "_refill",
        "_table",
    )

    def __init__(
        self, max_open: int | None, rate: float | None, burst: int, max_sources: int = MAX_SOURCES
    ) -> None:
        self._max_open = max_open
        self._max_sources = max_sources
        self._rate = rate
        self._burst = burst
        # Seconds for an empty bucket to fill: after this an idle address is forgotten.
        self._refill = 0.0 if not rate else burst / rate
        self._next_sweep = 0.0
        self._table: dict[str, _Source] = {}

    def __len__(self) -> int:
        return len(self._table)

    def admit(self, source: str, now: float) -> bool:
        """Count one more connection of ``source`` unless a limit refuses it."""
        table = self._table
        entry = table.get(source)
        if entry is None:
            if now >= self._next_sweep or len(table) >= self._max_sources:
                table = self._sweep(now)
            bucket = None if self._rate is None else TokenBucket(self._rate, self._burst, now)
            entry = table[source] = _Source(bucket)
        if self._max_open is not None and entry.open >= self._max_open:
            return False
        if entry.bucket is not None and not entry.bucket.take(now):
            return False
        entry.open += 1
        return True

    def release(self, source: str) -> None:
        """A connection counted by ``admit`` is over."""
        entry = self._table.get(source)
        if entry is None:
            return
        entry.open -= 1
        if entry.open <= 0 and entry.bucket is None:
            del self._table[source]  # no bucket to remember

    def _sweep(self, now: float) -> dict[str, _Source]:
        """Forget the addresses holding nothing: every one whose bucket is full again,
        or, with the table full, every one without a connection."""
        self._next_sweep = now + max(self._refill, 1.0)
        full = len(self._table) >= self._max_sources
        self._table = {
            source: entry
            for source, entry in self._table.items()
            if entry.open > 0
            or (not full and entry.bucket is not None and not entry.bucket.full(now))
        }
        return self._table

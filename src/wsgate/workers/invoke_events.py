"""``Event`` invocations: a bounded queue per function, run at least once, retried.

What Lambda's asynchronous invocation does, in memory and scaled down:

- An ``Event`` invocation is accepted (202) onto its function's queue, of at most
  :data:`EVENTS_PER_WORKER` events per worker the function may have; past that the
  Invoke API answers 429 ``TooManyRequestsException`` and nothing is queued.
- Up to the function's ``concurrency`` queued events run at once, each through the
  function's pool with the function's ``timeout``.
- A function error (the handler raised, the runtime crashed or failed to init, the
  timeout) is retried twice, after :data:`RETRY_DELAYS` (Lambda waits one and two
  minutes; here seconds); after the third failure the event is dropped and logged at
  ERROR, where Lambda would send it to a dead-letter queue or on-failure destination.
- A throttle (the pool's line is full) is not a failure: the event waits
  :data:`THROTTLE_DELAY` and tries again, as often as needed, as Lambda retries throttles.
- An accepted event is never lost while the gateway runs. At shutdown the queue is
  drained (retries no longer wait) for at most ``server.shutdown_timeout`` seconds; what
  is still queued or running then is stopped and logged at ERROR as dropped.

An event may run more than once (a retry after a timeout whose side effects happened),
as on Lambda: functions invoked with ``Event`` should be idempotent.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, cast

from wsgate.integrations.base import Event, InvokeContext
from wsgate.workers.errors import FunctionError, FunctionThrottled
from wsgate.workers.spec import FunctionSpec


__all__ = [
    "EVENTS_PER_WORKER",
    "RETRY_DELAYS",
    "THROTTLE_DELAY",
    "EventQueue",
    "Invocable",
    "QueuedEvent",
]

EVENTS_PER_WORKER = 100
"""A function's queue holds this many events per worker it may have (1000 for 10)."""
RETRY_DELAYS = (1.0, 2.0)
"""Seconds before the second and third attempts (Lambda: 1 and 2 minutes)."""
THROTTLE_DELAY = 1.0
"""Seconds a throttled event waits before it tries again (not counted as an attempt)."""

log = logging.getLogger("wsgate.workers")


class Invocable(Protocol):
    """What a queue needs of a function's pool (``FunctionPool``)."""

    name: str
    spec: FunctionSpec

    def invoke(
        self, event: Event, context: InvokeContext, *, client_context: str | None = None
    ) -> asyncio.Future[object]: ...


@dataclass(eq=False, slots=True)
class QueuedEvent:
    """One accepted ``Event`` invocation."""

    request_id: str
    payload: object
    failures: int = 0
    """Attempts that ended in a function error so far."""
    accepted: float = field(default_factory=time.monotonic)


class EventQueue:
    """The ``Event`` invocations of one function; see the module's docstring."""

    def __init__(
        self,
        pool: Invocable,
        *,
        limit: int | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        throttle_delay: float = THROTTLE_DELAY,
    ) -> None:
        self._pool = pool
        self.limit = pool.spec.concurrency * EVENTS_PER_WORKER if limit is None else limit
        self._retry_delays = retry_delays
        self._throttle_delay = throttle_delay
        self._ready: collections.deque[QueuedEvent] = collections.deque()
        self._delayed: dict[QueuedEvent, asyncio.TimerHandle] = {}
        self._running: dict[QueuedEvent, asyncio.Task[None]] = {}
        self._empty = asyncio.Event()
        self._empty.set()
        self._draining = False
        self._closed = False
        self.completed = 0
        """Events that ran to a result."""
        self.failed = 0
        """Events dropped after their last attempt failed."""

    def __len__(self) -> int:
        """Events accepted and not yet over: waiting, waiting for a retry, or running."""
        return len(self._ready) + len(self._delayed) + len(self._running)

    def put(self, event: QueuedEvent) -> bool:
        """Accept ``event``; False when the queue is full (or closed): a throttle."""
        if self._closed or len(self) >= self.limit:
            return False
        self._ready.append(event)
        self._empty.clear()
        self._pump()
        return True

    async def drain(self) -> None:
        """Run everything accepted; retries no longer wait. Returns once empty."""
        self._draining = True
        for event, handle in list(self._delayed.items()):
            handle.cancel()
            self._ready.append(event)
        self._delayed.clear()
        self._pump()
        await self._empty.wait()

    async def close(self) -> list[QueuedEvent]:
        """Stop: accept nothing more, stop what runs; returns the events never finished."""
        self._closed = True
        left = list(self._ready) + list(self._delayed) + list(self._running)
        for handle in self._delayed.values():
            handle.cancel()
        self._ready.clear()
        self._delayed.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._running.clear()
        self._empty.set()
        return left

    # --- helpers -----------------------------------------------------------------------

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._ready and not self._closed and len(self._running) < self._pool.spec.concurrency:
            event = self._ready.popleft()
            task = loop.create_task(self._attempt(event))
            self._running[event] = task
            task.add_done_callback(partial(self._finished, event))

    async def _attempt(self, event: QueuedEvent) -> None:
        """Run ``event`` once; on failure, schedule its retry (or drop it)."""
        timeout = self._pool.spec.timeout
        context = InvokeContext(event.request_id, time.monotonic() + timeout)
        future = self._pool.invoke(cast(Event, event.payload), context)
        try:
            await asyncio.wait_for(future, timeout)
        except FunctionThrottled:
            self._later(event, self._throttle_delay)
            return
        except (FunctionError, TimeoutError) as error:
            event.failures += 1
            kind = (
                f"{error.error_type}: {error.error_message}"
                if isinstance(error, FunctionError)
                else f"Task timed out after {timeout:.2f} seconds"
            )
            if event.failures > len(self._retry_delays):
                self.failed += 1
                log.error(
                    "%s: Event invocation %s dropped after %d attempts: %s",
                    self._pool.name,
                    event.request_id,
                    event.failures,
                    kind,
                )
                return
            log.warning(
                "%s: Event invocation %s failed (attempt %d), retried: %s",
                self._pool.name,
                event.request_id,
                event.failures,
                kind,
            )
            delay = 0.0 if self._draining else self._retry_delays[event.failures - 1]
            self._later(event, delay)
            return
        self.completed += 1

    def _later(self, event: QueuedEvent, delay: float) -> None:
        if self._closed:
            return
        if delay <= 0:
            self._ready.append(event)
            return
        loop = asyncio.get_running_loop()
        self._delayed[event] = loop.call_later(delay, self._due, event)

    def _due(self, event: QueuedEvent) -> None:
        if self._delayed.pop(event, None) is not None:
            self._ready.append(event)
            self._pump()

    def _finished(self, event: QueuedEvent, task: asyncio.Task[None]) -> None:
        self._running.pop(event, None)
        if not task.cancelled() and task.exception() is not None:
            # Not a function's failure: a bug here. Logged, and the event is not lost.
            log.error(
                "%s: Event invocation %s: %r",
                self._pool.name,
                event.request_id,
                task.exception(),
            )
            self._later(event, self._throttle_delay)
        if not self._closed:
            self._pump()
        if not len(self):
            self._empty.set()

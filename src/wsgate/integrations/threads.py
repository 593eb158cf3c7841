"""The threads that run plain ``def`` handlers, with one hand-off each way.

``loop.run_in_executor`` passes every call through a ``concurrent.futures.Future`` (a lock
and a condition) chained to an asyncio future by callbacks; on the per-message path of a
``def`` route that machinery costs as much as the handler. Here a call is a tuple on a
queue, and its result comes back to the loop with one ``call_soon_threadsafe``. The calls
are counted on the loop's thread alone (handed over, not yet answered there), so that the
threads take no lock per call.

A pool made with ``per_turn=True`` puts the calls made during one turn of the loop on the
queue together, after it: calls begun straight from ``data_received`` then wake the
threads once per batch, not once per read (the threads would otherwise take the
interpreter lock from the loop between two reads).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any


__all__ = ["HandlerThreads"]

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _resolve(pool: HandlerThreads, future: asyncio.Future[Any], result: Any) -> None:
    pool._running -= 1
    if not future.done():  # a timeout may have given up on it already
        future.set_result(result)


def _fail(pool: HandlerThreads, future: asyncio.Future[Any], error: BaseException) -> None:
    pool._running -= 1
    if not future.done():
        future.set_exception(error)


class HandlerThreads:
    """At most ``max_threads`` daemon threads, started as calls need them.

    ``run``, ``load`` and ``shutdown`` are called on the loop's thread.
    """

    def __init__(
        self, max_threads: int, name: str = "wsgate-handler", *, per_turn: bool = False
    ) -> None:
        self._max = max_threads
        self._name = name
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._running = 0
        """Calls handed to the threads whose answer has not reached the loop yet."""
        self._closed = False
        self.per_turn = per_turn
        """Whether the calls made in one turn of the loop are put on the queue together
        after it (``loop.call_soon``), rather than each at once."""
        self._handed: list[_Call] = []
        """The calls made in this turn of the loop (``per_turn``), not yet on the queue."""
        self._hand_over_soon = self._hand_over  # bound once, not once per turn

    def run(
        self, loop: asyncio.AbstractEventLoop, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        """Call ``func(*args)`` in a thread; the returned future resolves on ``loop``."""
        if self._closed:
            raise RuntimeError("HandlerThreads is shut down")
        future: asyncio.Future[Any] = loop.create_future()
        if self.per_turn:
            handed = self._handed
            if not handed:
                loop.call_soon(self._hand_over_soon)
            handed.append((loop, future, func, args))
        else:
            self._put((loop, future, func, args))
        return future

    def load(self) -> tuple[int, int, int]:
        """The most threads, the threads busy, and the calls waiting for one (a call
        counts until its answer reached the loop)."""
        started = len(self._threads)
        return self._max, min(self._running, started), max(self._running - started, 0)

    def _put(self, call: _Call) -> None:
        self._calls.put(call)
        self._running += 1
        # More calls than threads to take them: one more thread, up to the cap.
        started = len(self._threads)
        if self._running > started and started < self._max:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{started}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _hand_over(self) -> None:
        """Put the calls made in the turn of the loop that ended on the queue."""
        handed = self._handed
        for call in handed:
            self._put(call)
        handed.clear()

    def _work(self) -> None:
        calls = self._calls
        while True:
            call = calls.get()
            if call is None:
                return
            loop, future, func, args = call
            try:
                result = func(*args)
            except BaseException as error:  # handed to the caller, who decides
                self._deliver(loop, _fail, future, error)
            else:
                self._deliver(loop, _resolve, future, result)
            del call, future, args

    def _deliver(
        self,
        loop: asyncio.AbstractEventLoop,
        setter: Callable[[HandlerThreads, asyncio.Future[Any], Any], None],
        future: asyncio.Future[Any],
        value: Any,
    ) -> None:
        try:
            loop.call_soon_threadsafe(setter, self, future, value)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    def shutdown(self) -> None:
        """Let every thread finish its current call and stop; does not wait for them."""
        self._hand_over()  # calls made in this turn of the loop run, as if put already
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)

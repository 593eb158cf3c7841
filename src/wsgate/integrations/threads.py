"""The threads that run plain ``def`` handlers, with one hand-off each way.

``loop.run_in_executor`` passes every call through a ``concurrent.futures.Future`` (a lock
and a condition) chained to an asyncio future by callbacks; on the per-message path of a
``def`` route that machinery costs as much as the handler. Here a call is a tuple on a
queue, and its result comes back to the loop with one ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any


__all__ = ["HandlerThreads"]

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # a timeout may have given up on it already
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class HandlerThreads:
    """At most ``max_threads`` daemon threads, started as calls need them."""

    def __init__(self, max_threads: int, name: str = "wsgate-handler") -> None:
        self._max = max_threads
        self._name = name
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def run(
        self, loop: asyncio.AbstractEventLoop, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        """Call ``func(*args)`` in a thread; the returned future resolves on ``loop``."""
        if self._closed:
            raise RuntimeError("HandlerThreads is shut down")
        future: asyncio.Future[Any] = loop.create_future()
        self._calls.put((loop, future, func, args))
        # More calls waiting than threads free to take them: one more thread, up to the cap.
        if self._calls.qsize() > self._idle and len(self._threads) < self._max:
            self._start_thread()
        return future

    def _start_thread(self) -> None:
        with self._lock:
            if len(self._threads) >= self._max:
                return
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            # Counted idle from the start, so a burst of calls does not start a thread each.
            self._idle += 1
        thread.start()

    def _work(self) -> None:
        calls = self._calls
        while True:
            call = calls.get()
            with self._lock:
                self._idle -= 1
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
            with self._lock:
                self._idle += 1

    @staticmethod
    def _deliver(
        loop: asyncio.AbstractEventLoop,
        setter: Callable[[asyncio.Future[Any], Any], None],
        future: asyncio.Future[Any],
        value: Any,
    ) -> None:
        try:
            loop.call_soon_threadsafe(setter, future, value)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more

    def shutdown(self) -> None:
        """Let every thread finish its current call and stop; does not wait for them."""
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)

"""A management call made in some thread, answered by ``perform`` on the gateway's loop.

From the loop's own thread (an ``async def`` handler calling the synchronous boto3) the
call is finished in place; from a handler thread, a POST to an open connection is queued
without waiting (``post_from_thread``) and anything else is handed to the loop, the
thread waiting for the answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from wsgate.integrations.eager import Resumed
from wsgate.server.inprocess.listeners import Local
from wsgate.server.management import Reply, perform, post_from_thread


__all__ = ["run", "served_count"]


class _Counter:
    """How many calls took the in-process path (for tests and diagnostics)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


_served = _Counter()


def served_count() -> int:
    """How many management calls were handed to a local gateway instead of HTTP so far."""
    return _served.value


def _run_here(coro: Coroutine[Any, Any, Reply]) -> Reply:
    """Finish ``coro`` on the loop's own thread, which must not block on the loop.

    An ``async def`` handler calling the synchronous boto3 holds the loop; with the
    in-memory registry ``perform`` never has to wait, so it completes in one step.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        result: Reply = done.value
        return result
    coro.close()
    raise RuntimeError(
        "a boto3 management call made on the event loop (from an async def handler) had "
        "to wait for the loop it blocks; call boto3 from a plain def handler, or await "
        "asyncio.to_thread(client.post_to_connection, ...)"
    )


def run(local: Local, method: str, path: str, body: bytes, timeout: float) -> Reply | None:
    """The gateway's answer; None when its loop no longer runs.

    From a handler thread, a POST to an open connection is queued on the loop without
    waiting for it (``post_from_thread``); every other call is ``perform`` on the loop.

    Raises:
        TimeoutError: the loop did not answer within ``timeout`` seconds.
    """
    loop = local.loop
    if loop.is_closed() or not loop.is_running():
        return None
    _served.add()  # counted before the loop acts, so a test that saw the effect sees it
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        return _run_here(perform(local.gateway, method, path, body))
    posted = post_from_thread(local.gateway, method, path, body)
    if posted is not None:
        return posted
    coro = perform(local.gateway, method, path, body)
    call = _LoopCall(coro)
    try:
        loop.call_soon_threadsafe(call.begin, loop)
    except RuntimeError:  # closed meanwhile
        coro.close()
        return None
    return call.wait(timeout)


class _LoopCall:
    """``perform`` handed to the loop from another thread, and its answer handed back.

    Lighter than ``run_coroutine_threadsafe`` (a task, a concurrent future and the
    callbacks chaining them): one callback on the loop runs the coroutine at once, which
    with the in-memory registry always finishes, and a lock wakes the caller.
    """

    __slots__ = ("_coro", "_done", "_error", "_reply", "_task")

    def __init__(self, coro: Coroutine[Any, Any, Reply]) -> None:
        self._coro = coro
        self._reply: Reply | None = None
        self._error: BaseException | None = None
        self._task: asyncio.Task[Reply] | None = None
        self._done = threading.Lock()
        self._done.acquire()

    def begin(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            signal = self._coro.send(None)
        except StopIteration as finished:
            self._reply = finished.value
        except BaseException as error:  # handed to the waiting thread
            self._error = error
        else:  # it waits (a registry on the network): finish it in a task
            self._task = loop.create_task(_resumed(self._coro, signal))
            self._task.add_done_callback(self._finished)
            return
        self._done.release()

    def _finished(self, task: asyncio.Task[Reply]) -> None:
        if task.cancelled():
            self._error = TimeoutError()
        elif (error := task.exception()) is not None:
            self._error = error
        else:
            self._reply = task.result()
        self._done.release()

    def wait(self, timeout: float) -> Reply:
        if not self._done.acquire(timeout=timeout):
            task = self._task
            if task is not None:
                task.get_loop().call_soon_threadsafe(task.cancel)
            raise TimeoutError
        if self._error is not None:
            raise self._error
        assert self._reply is not None
        return self._reply


async def _resumed(coro: Coroutine[Any, Any, Reply], signal: Any) -> Reply:
    return await Resumed(coro, signal)

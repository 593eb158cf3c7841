"""Run a coroutine at once, and give it a task only if it has to wait.

Most handlers, and nearly every send of a reply, finish without waiting on anything. A task
for each costs more than the handler (a task object, a registration in asyncio's task set,
a turn of the event loop), so they run at once in the caller, as Python 3.12's eager tasks
would; one that waits is finished by a task from where it stopped.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar


__all__ = ["resume", "run_now"]

T = TypeVar("T")


class _Resumed(Generic[T]):
    """Awaits the rest of a coroutine that already ran up to its first wait.

    ``signal`` is what the coroutine yielded there (the future it waits on, or None): it is
    handed to the task as if the coroutine had yielded it inside the task.
    """

    __slots__ = ("_coro", "_signal")

    def __init__(self, coro: Coroutine[Any, Any, T], signal: Any) -> None:
        self._coro = coro
        self._signal = signal

    def __await__(self) -> Generator[Any, Any, T]:
        coro, signal = self._coro, self._signal
        while True:
            try:
                sent = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:  # cancellation, passed on to the coroutine
                try:
                    signal = coro.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    signal = coro.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


async def _finish(coro: Coroutine[Any, Any, T], signal: Any) -> T:
    return await _Resumed(coro, signal)


def run_now(
    coro: Coroutine[Any, Any, T],
    loop: asyncio.AbstractEventLoop,
    context: contextvars.Context | None = None,
) -> asyncio.Task[T] | None:
    """Run ``coro`` until it finishes or first waits, in ``context`` when one is given.

    Returns None when it finished (its result is dropped; an exception it raised propagates
    to the caller), or the task that finishes it once it had to wait. Keep a reference to
    that task: the loop holds tasks only weakly.
    """
    try:
        signal = coro.send(None) if context is None else context.run(coro.send, None)
    except StopIteration:
        return None
    return resume(coro, signal, loop, context)


def resume(
    coro: Coroutine[Any, Any, T],
    signal: Any,
    loop: asyncio.AbstractEventLoop,
    context: contextvars.Context | None = None,
) -> asyncio.Task[T]:
    """A task that finishes ``coro``, which already ran up to a wait and yielded ``signal``."""
    return loop.create_task(_finish(coro, signal), context=context)

"""Finish a coroutine that was run at once, up to its first wait, by its caller.

Most handlers finish without waiting on anything. A task for each costs more than the
handler (a task object, a registration in asyncio's task set, a turn of the event loop, a
done callback), so they run at once in the caller, as Python 3.12's eager tasks would. One
that does wait is finished by the very task it began in (``Resumed``): ``asyncio.timeout``,
``TaskGroup`` and anyio's cancel scopes hold on to the task they were entered in.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar


__all__ = ["Resumed"]

T = TypeVar("T")


class Resumed(Generic[T]):
    """Awaits the rest of a coroutine that already ran up to its first wait.

    ``signal`` is what the coroutine yielded there (the future it waits on, or None); it is
    handed to the awaiting task as if the coroutine had yielded it inside that task. Every
    step runs in ``context`` when one is given, the context the coroutine started in.
    """

    __slots__ = ("_context", "_coro", "_signal")

    def __init__(
        self,
        coro: Coroutine[Any, Any, T],
        signal: Any,
        context: contextvars.Context | None = None,
    ) -> None:
        self._coro = coro
        self._signal = signal
        self._context = context

    def __await__(self) -> Generator[Any, Any, T]:
        coro, signal, context = self._coro, self._signal, self._context
        while True:
            try:
                sent = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:  # cancellation, passed on to the coroutine
                try:
                    signal = (
                        coro.throw(error) if context is None else context.run(coro.throw, error)
                    )
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    signal = coro.send(sent) if context is None else context.run(coro.send, sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]

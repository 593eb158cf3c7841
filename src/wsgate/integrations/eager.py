"""Finish a coroutine that was run at once, up to its first wait, by its caller.

Most handlers finish without waiting on anything. A task for each costs more than the
handler (a task object, a registration in asyncio's task set, a turn of the event loop, a
done callback), so they run at once in the caller, as Python 3.12's eager tasks would. One
that does wait is finished by the very task it began in (``Resumed``): ``asyncio.timeout``,
``TaskGroup`` and anyio's cancel scopes hold on to the task they were entered in.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar


__all__ = ["Resumed"]

T = TypeVar("T")


class Resumed(Generic[T]):
    """Awaits the rest of a coroutine that already ran up to its first wait.

    ``signal`` is what the coroutine yielded there (the future it waits on, or None); it is
    handed to the awaiting task as if the coroutine had yielded it inside that task. Every
    step runs in ``context`` when one is given, the context the coroutine started in.
    """

    __slots__ = ("_context", "_coro", "_on_step", "_signal")

    def __init__(
        self,
        coro: Coroutine[Any, Any, T],
        signal: Any,
        context: contextvars.Context | None = None,
        on_step: Callable[[float], None] | None = None,
    ) -> None:
        self._coro = coro
        self._signal = signal
        self._context = context
        self._on_step = on_step
        """Told when each step began (time.monotonic()), once it ended."""

    def __await__(self) -> Generator[Any, Any, T]:
        coro, signal, context, on_step = self._coro, self._signal, self._context, self._on_step
        while True:
            try:
                sent = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:  # cancellation, passed on to the coroutine
                step: Callable[..., Any] = coro.throw
                argument: Any = error
            else:
                step, argument = coro.send, sent
            started = time.monotonic() if on_step is not None else 0.0
            try:
                signal = step(argument) if context is None else context.run(step, argument)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            finally:
                if on_step is not None:
                    on_step(started)

"""An integration as the gateway calls it: one place for timeouts, failures and eager runs.

Most handlers finish without waiting on anything, and a task for each would cost more
than the handler. So a coroutine from ``Integration.invoke`` is run at once, in the
caller's task, up to its first wait, as Python 3.12's eager tasks would; one that waits
is finished by the task it began in (``asyncio.timeout`` and ``TaskGroup`` hold on to
it). A future (a call running in a thread or another process) is answered from its done
callback, with no task at all. Every way ends the same: the handler's value, or
``HandlerFailed`` naming what it raised, or ``IntegrationTimeout`` past its deadline.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Coroutine
from types import CoroutineType
from typing import Any, final

from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.integrations.base import Event, Integration, InvokeContext
from wsgate.integrations.blocking import BlockingWatch
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.eager import Resumed


__all__ = ["Done", "Handler", "Waiting"]

# Makes a named tuple without the Python-level __new__ NamedTuple adds: one call less per
# invocation.
_new_context = tuple.__new__


@final  # tested with ``type(call) is Done`` on the per-message path
class Done:
    """A handler that finished inside ``Handler.start``; ``value`` is what it returned."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


@final
class Waiting:
    """A coroutine stopped at its first wait; the task that started it must finish it."""

    __slots__ = ("coro", "deadline", "scope", "signal")

    def __init__(
        self,
        coro: Coroutine[Any, Any, object],
        signal: object,
        scope: contextvars.Context,
        deadline: float,
    ) -> None:
        self.coro = coro
        self.signal = signal
        """What the coroutine yielded: handed on to the task as if yielded inside it."""
        self.scope = scope
        """The context it runs in, a copy of the caller's as a task of its own gets."""
        self.deadline = deadline
        """When it is late, on the loop's clock."""


class Handler:
    """Runs one integration with its timeout; see the module's docstring."""

    __slots__ = ("_blocking", "_deadlines", "integration", "name", "timeout")

    def __init__(
        self,
        integration: Integration,
        deadlines: DeadlineWatch,
        blocking: BlockingWatch | None = None,
    ) -> None:
        self.integration = integration
        self.name = integration.name
        self.timeout = integration.timeout
        self._deadlines = deadlines
        self._blocking = blocking if blocking is not None else BlockingWatch()

    def start(self, event: Event, request_id: str) -> Done | Waiting | asyncio.Future[object]:
        """Begin the handler on ``event`` in the calling task; what came of it so far.

        - ``Done``: it finished.
        - ``Waiting``: it waits, and this task must ``finish`` it.
        - a future: it runs elsewhere; pass the future to ``outcome`` once it is done,
          exactly once, whatever happened.

        Raises:
            HandlerFailed: the handler raised before it first had to wait.
        """
        started = time.monotonic()
        context = _new_context(InvokeContext, (request_id, started + self.timeout))
        try:
            call = self.integration.invoke(event, context)
        except asyncio.CancelledError:
            raise self._cancelled() from None
        except BaseException as error:  # even SystemExit: a handler never ends the gateway
            raise self._failed(error) from error
        coro: Coroutine[Any, Any, object]
        if type(call) is CoroutineType:  # an async def handler's: tested first, the usual
            coro = call  # narrowed by the check: no cast() call per message
        elif isinstance(call, asyncio.Future):
            self._deadlines.watch(call, call.get_loop().time() + self.timeout)
            return call
        elif isinstance(call, Coroutine):
            coro = call
        else:
            coro = _awaited(call)
        scope = contextvars.copy_context()
        try:
            signal = scope.run(coro.send, None)
        except StopIteration as done:
            return Done(done.value)
        except asyncio.CancelledError:
            raise self._cancelled() from None
        except BaseException as error:
            raise self._failed(error) from error
        finally:
            # BlockingWatch.check's own test, inlined: a step is nearly always short.
            if time.monotonic() - started >= self._blocking.threshold:
                self._blocking.check(self.name, started)
        return Waiting(coro, signal, scope, asyncio.get_running_loop().time() + self.timeout)

    async def finish(self, call: Waiting) -> object:
        """Finish a ``Waiting`` call, in the task that started it; its result.

        Raises:
            IntegrationTimeout: it ran past its deadline (it was cancelled then).
            HandlerFailed: it raised.
        """
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Handler.finish must run in a task")
        self._deadlines.watch(task, call.deadline)
        late = False
        try:
            try:
                result = await Resumed(call.coro, call.signal, call.scope, self._stepped)
            finally:
                late = self._deadlines.release(task)
        except asyncio.CancelledError:
            if not late:
                raise  # the task itself was cancelled (the client left, the gateway stops)
            task.uncancel()
            raise IntegrationTimeout(self._late()) from None
        except BaseException as error:
            if late:  # the handler turned our cancellation into an error of its own
                task.uncancel()
                raise IntegrationTimeout(self._late()) from None
            raise self._failed(error) from error
        if late:  # the handler swallowed the cancellation; its result came too late
            task.uncancel()
            raise IntegrationTimeout(self._late())
        return result

    def outcome(self, call: asyncio.Future[object]) -> object:
        """What the handler returned, for a done future from ``start``.

        Raises:
            IntegrationTimeout: it ran past its deadline.
            HandlerFailed: it raised, or someone else cancelled it.
        """
        if self._deadlines.release(call):
            raise IntegrationTimeout(self._late())
        if call.cancelled():
            raise self._cancelled()
        error = call.exception()
        if error is None:
            return call.result()
        raise self._failed(error) from error

    async def invoke(self, event: Event, request_id: str) -> object:
        """Run the handler to its end and return what it returned.

        Cancelling the awaiting task cancels the handler.

        Raises:
            IntegrationTimeout: it ran past its deadline.
            HandlerFailed: it raised.
        """
        call = self.start(event, request_id)
        if isinstance(call, Done):
            return call.value
        if isinstance(call, Waiting):
            return await self.finish(call)
        try:
            await call
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # This task was cancelled (the client left, the gateway stops): so is the
                # call. Otherwise the deadline cancelled the call: outcome() says so.
                self._deadlines.release(call)
                call.cancel()
                raise
        except BaseException:
            pass  # the handler's own error, named by outcome()
        return self.outcome(call)

    def _stepped(self, started: float) -> None:
        self._blocking.check(self.name, started)

    def _failed(self, error: BaseException) -> HandlerFailed:
        return HandlerFailed(f"{self.name} raised {type(error).__name__}: {error}", error)

    def _cancelled(self) -> HandlerFailed:
        return HandlerFailed(
            f"{self.name} was cancelled before it returned", asyncio.CancelledError()
        )

    def _late(self) -> str:
        return f"{self.name}: no result within {self.timeout:g} s"


async def _awaited(awaitable: Any) -> object:
    """A coroutine for an awaitable that is neither a coroutine nor a future."""
    return await awaitable

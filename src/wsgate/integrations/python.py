"""In-process Python handlers: ``module:function``, async awaited, sync in a thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from wsgate.exceptions import ConfigError, HandlerFailed, IntegrationTimeout
from wsgate.integrations.base import Event, Returned, Suspended
from wsgate.integrations.context import LambdaContext, function_name_for
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.eager import Resumed
from wsgate.integrations.threads import HandlerThreads


__all__ = ["PythonIntegration", "resolve_handler"]

HandlerFunction = Callable[[Event, LambdaContext], object]


def resolve_handler(reference: str) -> HandlerFunction:
    """Import ``module:function`` and return the callable, or raise a precise ConfigError."""
    module_name, sep, attr_path = reference.partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(f"handler {reference!r}: expected 'module:function'")
    try:
        obj: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise ConfigError(
            f"handler {reference!r}: cannot import module {module_name!r} "
            f"(no module named {missing!r}; is handlers.path right?)"
        ) from exc
    except Exception as exc:
        raise ConfigError(
            f"handler {reference!r}: importing module {module_name!r} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"handler {reference!r}: module {module_name!r} has no attribute {attr_path!r}"
            ) from None
    if not callable(obj):
        raise ConfigError(f"handler {reference!r}: {attr_path!r} is not callable")
    return cast(HandlerFunction, obj)


class _Waiting(Suspended):
    """An ``async def`` handler stopped at its first wait."""

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
        self.scope = scope
        self.deadline = deadline
        """When it is late, on the loop's clock."""


class PythonIntegration:
    """Calls a Lambda-style ``handler(event, context)`` living in this process.

    Whether the handler is awaited on the loop or run in ``threads`` is decided once, here,
    not on every call: a blocking handler must never stall other connections.
    """

    def __init__(
        self,
        reference: str,
        func: HandlerFunction,
        *,
        timeout: float,
        threads: HandlerThreads,
        deadlines: DeadlineWatch,
        region: str,
        account_id: str,
    ) -> None:
        self.name = reference
        self.timeout = timeout
        self._func = func
        self._is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - async callable objects
        )
        self._threads = threads
        self._deadlines = deadlines
        self._function_name = function_name_for(reference)
        self._function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{self._function_name}"
        self._log_group = f"/aws/lambda/{self._function_name}"

    @property
    def threaded(self) -> bool:
        """Whether the handler is a plain ``def``, run by the handler threads."""
        return not self._is_async

    def call_here(self, event: Event, request_id: str) -> object:
        """Run a ``def`` handler in the calling thread, which must be a handler thread.

        For callers that chain several handlers in one trip to the threads; the caller
        enforces the timeout.

        Raises:
            HandlerFailed: the handler raised.
        """
        context = LambdaContext(
            self._function_name,
            self._function_arn,
            request_id,
            time.monotonic() + self.timeout,
            self._log_group,
        )
        try:
            return self._func(event, context)
        except Exception as error:
            raise self._failed(error) from error

    def start(self, event: Event, request_id: str) -> Returned | Suspended | asyncio.Future[object]:
        """Begin the handler; see ``Integration.start``.

        An ``async def`` handler runs at once, in the calling task and in a copy of its
        context (as in a task of its own), up to its first wait: most never wait, and a
        task per message was the largest cost of a round trip. A ``def`` handler goes to
        the threads, and its future's deadline is watched.
        """
        deadline = time.monotonic() + self.timeout
        context = LambdaContext(
            self._function_name, self._function_arn, request_id, deadline, self._log_group
        )
        if not self._is_async:
            loop = asyncio.get_running_loop()
            call = self._threads.run(loop, self._func, event, context)
            self._deadlines.watch(call, loop.time() + self.timeout)
            return call
        scope = contextvars.copy_context()
        try:
            coro: Coroutine[Any, Any, object] = self._func(event, context)  # type: ignore[assignment]
            signal = scope.run(coro.send, None)
        except StopIteration as done:
            return Returned(done.value)
        except asyncio.CancelledError:
            raise self._cancelled() from None
        except Exception as error:
            raise self._failed(error) from error
        return _Waiting(coro, signal, scope, asyncio.get_running_loop().time() + self.timeout)

    async def finish(self, call: Suspended) -> object:
        """Finish a handler that waits, in the task it began in; see ``Integration.finish``."""
        if not isinstance(call, _Waiting):
            raise TypeError(f"{self.name} cannot finish {call!r}")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("PythonIntegration.finish must run in a task")
        self._deadlines.watch(task, call.deadline)
        late = False
        try:
            try:
                result = await Resumed(call.coro, call.signal, call.scope)
            finally:
                late = self._deadlines.release(task)
        except asyncio.CancelledError:
            if not late:
                raise
            task.uncancel()
            raise IntegrationTimeout(self._late()) from None
        except Exception as exc:
            if late:  # the handler turned our cancellation into an error of its own
                task.uncancel()
                raise IntegrationTimeout(self._late()) from None
            raise self._failed(exc) from exc
        if late:  # the handler swallowed the cancellation; its result came too late
            task.uncancel()
            raise IntegrationTimeout(self._late())
        return result

    def outcome(self, call: asyncio.Future[object]) -> object:
        """What a ``def`` handler returned; see ``Integration.outcome``."""
        if self._deadlines.release(call):
            raise IntegrationTimeout(self._late())
        if call.cancelled():
            raise self._cancelled()
        error = call.exception()
        if error is None:
            return call.result()
        if isinstance(error, Exception):
            raise self._failed(error) from error
        raise error

    async def invoke(self, event: Event, request_id: str) -> object:
        """Run the handler; see ``Integration.invoke``."""
        call = self.start(event, request_id)
        if isinstance(call, Returned):
            return call.value
        if isinstance(call, Suspended):
            return await self.finish(call)
        try:
            await call
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # This task was cancelled (the client left, the gateway stops): the call
                # was cancelled with it.
                self._deadlines.release(call)
                raise
        except Exception:
            pass  # the handler's own error, reported by outcome()
        return self.outcome(call)

    def _failed(self, error: Exception) -> HandlerFailed:
        return HandlerFailed(f"{self.name} raised {type(error).__name__}: {error}", error)

    def _cancelled(self) -> HandlerFailed:
        return HandlerFailed(
            f"{self.name} was cancelled before it returned", asyncio.CancelledError()
        )

    def _late(self) -> str:
        return f"{self.name}: no result within {self.timeout:g} s"

"""In-process Python handlers: ``module:function``, async awaited, sync in a thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import time
from collections.abc import Callable
from typing import cast

from wsgate.exceptions import ConfigError, HandlerFailed, IntegrationTimeout
from wsgate.integrations.base import Event, Returned
from wsgate.integrations.context import LambdaContext, function_name_for
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.eager import resume
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

    def start(self, event: Event, request_id: str) -> Returned | asyncio.Future[object]:
        """Start the handler; see ``Integration.start``.

        An ``async def`` handler runs at once, in a context of its own (as it would in a
        task of its own), and gets a task only if it has to wait; a ``def`` handler goes to
        the threads. Only a call that did not finish at once can be late, so only such a
        call's deadline is watched.
        """
        loop = asyncio.get_running_loop()
        context = LambdaContext(
            self._function_name,
            self._function_arn,
            request_id,
            time.monotonic() + self.timeout,
            self._log_group,
        )
        call: asyncio.Future[object]
        if self._is_async:
            scope = contextvars.copy_context()
            try:
                coro = self._func(event, context)
                signal = scope.run(coro.send, None)  # type: ignore[attr-defined]
            except StopIteration as done:
                return Returned(done.value)
            except asyncio.CancelledError:
                raise self._cancelled() from None
            except Exception as error:
                raise self._failed(error) from error
            call = resume(coro, signal, loop, scope)  # type: ignore[arg-type]
        else:
            call = self._threads.run(loop, self._func, event, context)
        self._deadlines.watch(call, loop.time() + self.timeout)
        return call

    def outcome(self, call: asyncio.Future[object]) -> object:
        """What the handler returned; see ``Integration.outcome``."""
        if self._deadlines.release(call):
            # Cancelled for being late, whatever it did next: swallowed the cancellation
            # and returned, turned it into an error of its own, or let it through.
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
        if not call.done():
            try:
                await call
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # This task was cancelled (the client left, the gateway stops); the
                    # handler was cancelled with it.
                    call.cancel()
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

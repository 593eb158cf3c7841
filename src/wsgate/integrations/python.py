"""In-process Python handlers: ``module:function``, async awaited, sync in a thread pool."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import cast

from wsgate.exceptions import ConfigError, HandlerFailed, IntegrationTimeout
from wsgate.integrations.base import Event
from wsgate.integrations.context import LambdaContext, function_name_for
from wsgate.integrations.deadlines import DeadlineWatch
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

    async def invoke(self, event: Event, request_id: str) -> object:
        """Run the handler; see ``Integration.invoke``."""
        context = LambdaContext(
            function_name=self._function_name,
            invoked_function_arn=self._function_arn,
            aws_request_id=request_id,
            deadline=time.monotonic() + self.timeout,
            log_group_name=self._log_group,
        )
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("PythonIntegration.invoke must run in a task")
        self._deadlines.watch(task, loop.time() + self.timeout)
        late = False
        try:
            try:
                if self._is_async:
                    result = await cast(Awaitable[object], self._func(event, context))
                else:
                    result = await self._threads.run(loop, self._func, event, context)
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
            raise HandlerFailed(f"{self.name} raised {type(exc).__name__}: {exc}", exc) from exc
        if late:  # the handler swallowed the cancellation; its result came too late
            task.uncancel()
            raise IntegrationTimeout(self._late())
        return result

    def _late(self) -> str:
        return f"{self.name}: no result within {self.timeout:g} s"

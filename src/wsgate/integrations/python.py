"""In-process Python handlers: ``module:function``, async awaited, sync in a thread pool."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import cast

from wsgate.exceptions import ConfigError, HandlerFailed
from wsgate.integrations.base import Event, InvokeContext
from wsgate.integrations.context import LambdaContext, function_name_for
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
        self._function_name = function_name_for(reference)
        self._function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{self._function_name}"
        self._log_group = f"/aws/lambda/{self._function_name}"

    @property
    def threaded(self) -> bool:
        """Whether the handler is a plain ``def``, run by the handler threads."""
        return not self._is_async

    @property
    def per_turn(self) -> bool:
        """Whether its calls reach the threads once per turn of the loop, together
        (``HandlerThreads(per_turn=True)``)."""
        return self._threads.per_turn

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
        except BaseException as error:  # even SystemExit: a handler never ends the gateway
            raise self._failed(error) from error

    def invoke(self, event: Event, context: InvokeContext) -> Awaitable[object]:
        """Begin the handler; see ``Integration.invoke``.

        An ``async def`` handler's coroutine is handed back as it is, for the caller to
        run; a ``def`` handler goes to the threads, and its future is handed back.
        """
        lambda_context = LambdaContext(
            self._function_name,
            self._function_arn,
            context.request_id,
            context.deadline,
            self._log_group,
        )
        if self._is_async:
            return self._func(event, lambda_context)  # type: ignore[return-value]  # a coroutine
        return self._threads.run(asyncio.get_running_loop(), self._func, event, lambda_context)

    def _failed(self, error: BaseException) -> HandlerFailed:
        return HandlerFailed(f"{self.name} raised {type(error).__name__}: {error}", error)

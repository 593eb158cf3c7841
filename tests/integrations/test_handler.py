"""Any integration, not only Python's, is called the same way: futures, coroutines and
other awaitables, with the caller's timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Generator
from typing import Any

import pytest

from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.integrations.base import Event, InvokeContext
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.handler import Done, Handler, Waiting


class _Elsewhere:
    """An integration whose calls run elsewhere: the test resolves their futures."""

    name = "elsewhere"
    timeout = 0.2

    def __init__(self) -> None:
        self.calls: list[tuple[Event, InvokeContext, asyncio.Future[object]]] = []

    def invoke(self, event: Event, context: InvokeContext) -> Awaitable[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.calls.append((event, context, future))
        return future


class _Ticket:
    """An awaitable that is neither a coroutine nor a future."""

    def __init__(self, value: object) -> None:
        self._value = value

    def __await__(self) -> Generator[Any, None, object]:
        yield from asyncio.sleep(0).__await__()
        return self._value


class _Custom:
    name = "custom"
    timeout = 1.0

    def invoke(self, event: Event, context: InvokeContext) -> Awaitable[object]:
        return _Ticket({"id": context.request_id, **event})


def _handler(integration: Any) -> Handler:
    return Handler(integration, DeadlineWatch(resolution=0.01))


async def test_a_future_is_answered_by_outcome_with_the_context_it_was_given() -> None:
    elsewhere = _Elsewhere()
    handler = _handler(elsewhere)
    call = handler.start({"n": 1}, "req-1")
    assert isinstance(call, asyncio.Future)
    event, context, future = elsewhere.calls[0]
    assert event == {"n": 1} and context.request_id == "req-1"
    assert 0 < context.deadline - time.monotonic() <= 0.2
    future.set_result("done")
    assert handler.outcome(call) == "done"


async def test_a_future_that_fails_or_is_late_is_named_as_such() -> None:
    elsewhere = _Elsewhere()
    handler = _handler(elsewhere)
    failing = handler.start({}, "a")
    assert isinstance(failing, asyncio.Future)
    elsewhere.calls[0][2].set_exception(RuntimeError("worker crashed"))
    with pytest.raises(HandlerFailed, match="elsewhere raised RuntimeError: worker crashed"):
        handler.outcome(failing)
    with pytest.raises(IntegrationTimeout, match="no result within 0.2 s"):
        await handler.invoke({}, "b")
    # The late call was cancelled, so whoever runs it elsewhere knows to stop.
    assert elsewhere.calls[1][2].cancelled()


async def test_another_awaitable_runs_like_a_coroutine() -> None:
    handler = _handler(_Custom())
    call = handler.start({"x": 1}, "req")
    assert isinstance(call, Waiting)
    assert await handler.finish(call) == {"id": "req", "x": 1}
    assert await handler.invoke({"x": 2}, "r2") == {"id": "r2", "x": 2}


async def test_an_integration_that_raises_in_invoke_fails_the_call() -> None:
    class Broken:
        name = "broken"
        timeout = 1.0

        def invoke(self, event: Event, context: InvokeContext) -> Awaitable[object]:
            raise OSError("cannot start the worker")

    with pytest.raises(HandlerFailed, match="broken raised OSError"):
        _handler(Broken()).start({}, "req")


async def test_a_coroutine_that_does_not_wait_is_done_at_once() -> None:
    class Quick:
        name = "quick"
        timeout = 1.0

        async def _run(self, event: Event) -> object:
            return event["v"]

        def invoke(self, event: Event, context: InvokeContext) -> Awaitable[object]:
            return self._run(event)

    call = _handler(Quick()).start({"v": 7}, "req")
    assert isinstance(call, Done) and call.value == 7

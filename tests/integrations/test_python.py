"""In-process Python handlers, called as the gateway calls them: results, failures and
timeouts, async and sync alike."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wsgate.exceptions import ConfigError, HandlerFailed, IntegrationTimeout
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.handler import Done, Handler, Waiting
from wsgate.integrations.python import PythonIntegration, resolve_handler
from wsgate.integrations.threads import HandlerThreads


VARIABLE: contextvars.ContextVar[str] = contextvars.ContextVar("VARIABLE")


@pytest.fixture
async def executor() -> AsyncIterator[HandlerThreads]:
    pool = HandlerThreads(max_threads=4)
    yield pool
    pool.shutdown()


def integration(func: Any, executor: HandlerThreads, timeout: float = 5.0) -> Handler:
    """A Python handler as the gateway calls it."""
    python = PythonIntegration(
        "mod:func",
        func,
        timeout=timeout,
        threads=executor,
        region="eu-west-1",
        account_id="111122223333",
    )
    return Handler(python, DeadlineWatch(resolution=0.01))


async def test_async_and_sync_results_come_back(executor: HandlerThreads) -> None:
    async def async_handler(event: Any, context: Any) -> Any:
        return {"echo": event["x"], "id": context.aws_request_id}

    def sync_handler(event: Any, context: Any) -> Any:
        return {"echo": event["x"], "arn": context.invoked_function_arn}

    assert await integration(async_handler, executor).invoke({"x": 1}, "req") == {
        "echo": 1,
        "id": "req",
    }
    assert await integration(sync_handler, executor).invoke({"x": 2}, "req") == {
        "echo": 2,
        "arn": "arn:aws:lambda:eu-west-1:111122223333:function:mod-func",
    }


async def test_exceptions_become_handler_failed_with_the_original(
    executor: HandlerThreads,
) -> None:
    def broken(event: Any, context: Any) -> None:
        raise KeyError("missing")

    with pytest.raises(HandlerFailed) as info:
        await integration(broken, executor).invoke({}, "req")
    assert isinstance(info.value.error, KeyError)


@pytest.mark.parametrize("kind", ["async", "sync", "swallowing", "converting"])
async def test_late_handlers_time_out_and_the_task_stays_usable(
    executor: HandlerThreads, kind: str
) -> None:
    async def slow_async(event: Any, context: Any) -> str:
        await asyncio.sleep(5)
        return "late"

    def slow_sync(event: Any, context: Any) -> str:
        time.sleep(0.3)
        return "late"

    async def swallowing(event: Any, context: Any) -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            pass
        return "swallowed"

    async def converting(event: Any, context: Any) -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None
        return "never"

    handlers = {
        "async": slow_async,
        "sync": slow_sync,
        "swallowing": swallowing,
        "converting": converting,
    }
    target = integration(handlers[kind], executor, timeout=0.05)
    with pytest.raises(IntegrationTimeout):
        await target.invoke({}, "req")
    # The task was not left cancelled: it can go on awaiting.
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0
    await asyncio.sleep(0.01)


async def test_remaining_time_counts_down_from_the_timeout(executor: HandlerThreads) -> None:
    def remaining(event: Any, context: Any) -> int:
        return int(context.get_remaining_time_in_millis())

    value = await integration(remaining, executor, timeout=2.0).invoke({}, "req")
    assert isinstance(value, int) and 1000 < value <= 2000


async def test_an_outside_cancellation_is_not_a_timeout(executor: HandlerThreads) -> None:
    started = asyncio.Event()

    async def waits(event: Any, context: Any) -> None:
        started.set()
        await asyncio.sleep(5)

    task = asyncio.create_task(integration(waits, executor).invoke({}, "req"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_resolve_handler_names_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="expected 'module:function'"):
        resolve_handler("no_colon")
    with pytest.raises(ConfigError, match="cannot import module 'not_a_module_anywhere'"):
        resolve_handler("not_a_module_anywhere:handler")
    with pytest.raises(ConfigError, match="has no attribute 'nope'"):
        resolve_handler("json:nope")
    with pytest.raises(ConfigError, match="is not callable"):
        resolve_handler("json:__doc__")
    assert resolve_handler("json:dumps").__name__ == "dumps"


async def test_a_handler_that_does_not_wait_finishes_inside_start(
    executor: HandlerThreads,
) -> None:
    async def immediate(event: Any, context: Any) -> str:
        return f"now {context.aws_request_id}"

    outcome = integration(immediate, executor).start({}, "req")
    assert isinstance(outcome, Done) and outcome.value == "now req"


async def test_a_waiting_handler_stays_in_the_task_it_began_in(
    executor: HandlerThreads,
) -> None:
    """asyncio.timeout, TaskGroup and anyio hold on to the task they are entered in: a
    handler must begin and finish in the same task."""
    tasks: list[asyncio.Task[Any] | None] = []

    async def waits(event: Any, context: Any) -> str:
        tasks.append(asyncio.current_task())
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            pass
        tasks.append(asyncio.current_task())
        return "later"

    target = integration(waits, executor)
    call = target.start({}, "req")
    assert isinstance(call, Waiting)
    assert await target.finish(call) == "later"
    assert tasks == [asyncio.current_task()] * 2
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_each_call_has_its_own_context(executor: HandlerThreads) -> None:
    """A context variable a handler sets is not seen by the next call, nor by the caller."""
    seen: list[str | None] = []

    async def sets_and_reads(event: Any, context: Any) -> None:
        seen.append(VARIABLE.get(None))
        VARIABLE.set(event["value"])
        if event["wait"]:
            await asyncio.sleep(0)
        seen.append(VARIABLE.get(None))

    target = integration(sets_and_reads, executor)
    await target.invoke({"value": "a", "wait": False}, "req")
    await target.invoke({"value": "b", "wait": True}, "req")
    assert seen == [None, "a", None, "b"]
    assert VARIABLE.get(None) is None


@pytest.mark.parametrize("kind", ["raises", "cancels"])
async def test_a_handler_failing_before_it_waits_fails_start(
    executor: HandlerThreads, kind: str
) -> None:
    async def fails(event: Any, context: Any) -> None:
        if kind == "raises":
            raise ValueError("bad input")
        raise asyncio.CancelledError

    with pytest.raises(HandlerFailed) as info:
        integration(fails, executor).start({}, "req")
    expected = ValueError if kind == "raises" else asyncio.CancelledError
    assert isinstance(info.value.error, expected)


async def test_a_late_call_is_a_timeout_through_finish_and_outcome(
    executor: HandlerThreads,
) -> None:
    async def slow(event: Any, context: Any) -> str:
        await asyncio.sleep(5)
        return "late"

    def slow_sync(event: Any, context: Any) -> str:
        time.sleep(0.3)
        return "late"

    waiting = integration(slow, executor, timeout=0.05)
    call = waiting.start({}, "req")
    assert isinstance(call, Waiting)
    with pytest.raises(IntegrationTimeout):
        await waiting.finish(call)

    threaded = integration(slow_sync, executor, timeout=0.05)
    future = threaded.start({}, "req")
    assert isinstance(future, asyncio.Future)
    await asyncio.wait((future,))
    with pytest.raises(IntegrationTimeout):
        threaded.outcome(future)


async def test_a_thread_call_cancelled_by_someone_else_is_a_failure_not_a_timeout(
    executor: HandlerThreads,
) -> None:
    def waits(event: Any, context: Any) -> None:
        time.sleep(0.05)

    target = integration(waits, executor)
    call = target.start({}, "req")
    assert isinstance(call, asyncio.Future)
    call.cancel()
    with pytest.raises(HandlerFailed, match="was cancelled"):
        target.outcome(call)


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize("raised", [SystemExit(1), KeyboardInterrupt()])
async def test_sys_exit_and_keyboard_interrupt_are_the_handler_s_failure(
    executor: HandlerThreads, kind: str, raised: BaseException
) -> None:
    """A handler calling sys.exit(1) fails its invocation; it never ends the gateway."""

    async def exits_async(event: Any, context: Any) -> None:
        if event["wait"]:
            await asyncio.sleep(0)
        raise raised

    def exits_sync(event: Any, context: Any) -> None:
        raise raised

    target = integration(exits_async if kind == "async" else exits_sync, executor)
    for wait in (False, True):
        with pytest.raises(HandlerFailed) as info:
            await target.invoke({"wait": wait}, "req")
        assert info.value.error is raised
    # The loop and this task carry on.
    await asyncio.sleep(0)

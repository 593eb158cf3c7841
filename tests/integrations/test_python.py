"""In-process handlers: results, failures and timeouts, async and sync alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wsgate.exceptions import ConfigError, HandlerFailed, IntegrationTimeout
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.python import PythonIntegration, resolve_handler
from wsgate.integrations.threads import HandlerThreads


@pytest.fixture
async def executor() -> AsyncIterator[HandlerThreads]:
    pool = HandlerThreads(max_threads=4)
    yield pool
    pool.shutdown()


def integration(func: Any, executor: HandlerThreads, timeout: float = 5.0) -> PythonIntegration:
    return PythonIntegration(
        "mod:func",
        func,
        timeout=timeout,
        threads=executor,
        deadlines=DeadlineWatch(resolution=0.01),
        region="eu-west-1",
        account_id="111122223333",
    )


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

"""A function's pool with real worker processes: concurrency, the waiting line, warm
reuse, idle reaping, kills, init errors and the stop that leaves nothing behind."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from wsgate.integrations.base import InvokeContext
from wsgate.workers import FunctionError, FunctionPool, FunctionThrottled
from wsgate.workers import worker as worker_module
from wsgate.workers.runtimes import RUNTIMES, runtime_kind
from wsgate.workers.spec import FunctionSpec


FUNCTIONS = Path(__file__).parent.parent / "e2e" / "functions"

PoolFactory = Callable[..., FunctionPool]


@pytest.fixture
async def make_pool(tmp_path: Path) -> AsyncIterator[PoolFactory]:
    """Pools of the e2e functions; every one is closed (its workers stopped) at the end."""
    pools: list[FunctionPool] = []

    def make(
        folder: str = "alpha",
        *,
        max_waiting: int | None = None,
        environment: dict[str, str] | None = None,
        **settings: Any,
    ) -> FunctionPool:
        values: dict[str, Any] = {
            "timeout": 5.0,
            "memory_size": 128,
            "concurrency": 2,
            "idle_timeout": 30.0,
            **settings,
        }
        spec = FunctionSpec(
            name=folder,
            runtime="python3.11",
            code=FUNCTIONS / folder,
            handler="app.lambda_handler",
            environment={"RECORD": str(tmp_path / "record"), **(environment or {})},
            **values,
        )
        pool = FunctionPool(spec, RUNTIMES["python3.11"], max_waiting=max_waiting)
        pools.append(pool)
        return pool

    try:
        yield make
    finally:
        for pool in pools:
            await pool.aclose()


def invoke(
    pool: FunctionPool, action: str, timeout: float = 5, **body: object
) -> asyncio.Future[object]:
    """An invocation of the e2e ``alpha`` handler, as a message route would send it."""
    event: dict[str, object] = {
        "requestContext": {"routeKey": "$default", "connectionId": "c1"},
        "body": orjson.dumps({"action": action, **body}).decode(),
    }
    context = InvokeContext(os.urandom(6).hex(), time.monotonic() + timeout)
    return pool.invoke(event, context)


def one_running_one_waiting(
    make_pool: PoolFactory,
) -> tuple[FunctionPool, asyncio.Future[object], asyncio.Future[object]]:
    """A pool of one worker running a call of 0.3 s, and a second call waiting for it."""
    pool = make_pool(concurrency=1)
    running = invoke(pool, "sleep", seconds=0.3)
    waiting = invoke(pool, "sleep", seconds=0)
    assert pool.waiting == 1
    return pool, running, waiting


def described(error: BaseException | None) -> str:
    """``errorType: errorMessage``."""
    assert isinstance(error, FunctionError)
    return f"{error.error_type}: {error.error_message}"


def pid_of(result: object) -> int:
    assert isinstance(result, dict)
    return int(str(result["body"]).split()[-1])


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_concurrency_limit_one_waits(make_pool: PoolFactory) -> None:
    """With concurrency 2, of three slow calls two run at once and the third waits."""
    pool = make_pool(concurrency=2)
    began = time.monotonic()
    calls = [invoke(pool, "sleep", seconds=0.5) for _ in range(3)]
    assert (len(pool.workers), pool.waiting) == (2, 1)
    finished: list[float] = []
    for call in asyncio.as_completed(calls):
        await call
        finished.append(time.monotonic() - began)
    assert finished[2] >= 1.0  # the third began only once one of the others had ended
    pids = [pid_of(call.result()) for call in calls]
    assert pids[0] != pids[1] and pids[2] in pids[:2]  # on a worker freed by one of them
    assert len(pool.workers) == 2


async def test_a_full_line_throttles(
    make_pool: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the waiting line's bound an invocation fails at once, as Lambda's 429."""
    pool = make_pool(concurrency=1, max_waiting=1)
    running = invoke(pool, "sleep", seconds=0.3)
    waiting = invoke(pool, "sleep", seconds=0.01)
    throttled = invoke(pool, "sleep", seconds=0.01)
    assert throttled.done()
    error = throttled.exception()
    assert isinstance(error, FunctionThrottled)
    assert described(error) == "TooManyRequestsException: Rate Exceeded."
    assert "throttled" in caplog.text
    await asyncio.gather(running, waiting)


async def test_warm_reuse_then_reaped_when_idle(
    make_pool: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """One worker serves calls in turn; idle past idle_timeout it is stopped; the next
    call starts a new one (a cold start again: Init Duration in its REPORT)."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    pool = make_pool(idle_timeout=0.3)
    first = pid_of(await invoke(pool, "sleep", seconds=0))
    second = pid_of(await invoke(pool, "sleep", seconds=0))
    assert first == second
    reports = [r.getMessage() for r in caplog.records if " REPORT " in r.getMessage()]
    assert ["Init Duration" in report for report in reports] == [True, False]
    await wait_for(lambda: not pool.workers and not alive(first))
    third = pid_of(await invoke(pool, "sleep", seconds=0))
    assert third != first


async def test_cancelling_a_running_invocation_kills_its_worker(make_pool: PoolFactory) -> None:
    """The caller's deadline (a cancel) ends the process, SIGKILL, and a new one serves
    the next call."""
    pool = make_pool()
    warm = pid_of(await invoke(pool, "sleep", seconds=0))
    call = invoke(pool, "sleep", seconds=30, timeout=0.3)
    await asyncio.sleep(0.3)
    call.cancel()
    await wait_for(lambda: not alive(warm) and not pool.workers)
    assert pid_of(await invoke(pool, "sleep", seconds=0)) != warm


async def test_cancelling_a_waiting_invocation_only_leaves_the_line(
    make_pool: PoolFactory,
) -> None:
    pool, running, waiting = one_running_one_waiting(make_pool)
    waiting.cancel()
    await asyncio.sleep(0)
    assert pool.waiting == 0
    pid = pid_of(await running)
    assert alive(pid) and len(pool.workers) == 1


async def test_function_errors_keep_the_worker(make_pool: PoolFactory) -> None:
    """A handler that raises fails its call with the runtime's error; the process stays."""
    pool = make_pool()
    warm = pid_of(await invoke(pool, "sleep", seconds=0))
    with pytest.raises(FunctionError, match="^boom$") as caught:
        await invoke(pool, "raise")
    assert caught.value.error_type == "ValueError"
    assert isinstance(caught.value.payload, dict) and caught.value.payload["stackTrace"]
    assert pid_of(await invoke(pool, "sleep", seconds=0)) == warm


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("exit", "Runtime.ExitError: Runtime exited with error: exit status 1"),
        ("segfault", "Runtime.ExitError: Runtime exited with error: signal: segmentation fault"),
    ],
)
async def test_a_crash_fails_its_call_and_the_worker_is_replaced(
    make_pool: PoolFactory, action: str, message: str
) -> None:
    pool = make_pool()
    warm = pid_of(await invoke(pool, "sleep", seconds=0))
    with pytest.raises(FunctionError) as caught:
        await invoke(pool, action)
    assert described(caught.value) == message
    await wait_for(lambda: not pool.workers)
    assert pid_of(await invoke(pool, "sleep", seconds=0)) != warm


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("raise", "RuntimeError: cannot start: no database"),
        ("exit", "Runtime.ExitError: Runtime exited with error: exit status 3"),
    ],
)
async def test_init_errors_fail_the_call_and_are_logged_once(
    make_pool: PoolFactory, caplog: pytest.LogCaptureFixture, how: str, message: str
) -> None:
    """A function that cannot load fails the call that started it, with the error its
    runtime posted (or its exit); the failure is logged once, with its traceback."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    pool = make_pool("broken", environment={"BREAK": how})
    with pytest.raises(FunctionError) as caught:
        await invoke(pool, "anything")
    assert described(caught.value) == message
    await wait_for(lambda: not pool.workers)
    failures = [r for r in caplog.records if "INIT failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    if how == "raise":
        assert 'broken/app.py", line' in failures[0].getMessage()


async def test_init_that_hangs_is_killed(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Init is bounded (Lambda's 10 s, shortened here): the call fails, the process dies."""
    monkeypatch.setattr(worker_module, "INIT_TIMEOUT", 0.5)
    pool = make_pool("broken", environment={"BREAK": "hang"})
    call = invoke(pool, "anything")
    [worker] = pool.workers
    with pytest.raises(FunctionError, match="^Init timed out after") as caught:
        await call
    assert caught.value.error_type == "Sandbox.Timedout"
    await wait_for(lambda: not pool.workers)
    assert worker.pid is not None and not alive(worker.pid)


async def test_close_stops_every_worker_even_one_ignoring_sigterm(
    make_pool: PoolFactory,
) -> None:
    """SIGTERM, then SIGKILL after the grace: no process is left behind."""
    pool = make_pool(concurrency=2)
    hung = invoke(pool, "hang", timeout=30)
    idle = pid_of(await invoke(pool, "sleep", seconds=0))
    await asyncio.sleep(0.3)  # the hanging handler has set SIGTERM aside
    pids = [worker.pid for worker in pool.workers]
    assert idle in pids and len(pids) == 2
    began = time.monotonic()
    await pool.aclose()
    assert time.monotonic() - began < worker_module.STOP_GRACE + 2
    assert not pool.workers
    assert not any(pid is not None and alive(pid) for pid in pids)
    with pytest.raises(FunctionError, match="Runtime exited with error: signal: killed"):
        await hung
    with pytest.raises(FunctionError, match="the gateway is stopping"):
        await invoke(pool, "sleep", seconds=0)


async def test_retire_stops_idle_workers_now_and_busy_ones_after_their_answer(
    make_pool: PoolFactory,
) -> None:
    """Hot reload's retire: nothing in flight fails; the next call gets a fresh worker."""
    pool = make_pool(concurrency=2)
    warm = {
        pid_of(r)
        for r in await asyncio.gather(*(invoke(pool, "sleep", seconds=0) for _ in range(2)))
    }
    assert len(warm) == 2
    busy = invoke(pool, "sleep", seconds=0.3)
    assert pool.retire() == 2
    held = pid_of(await busy)  # answered by the worker it began on
    assert held in warm
    await wait_for(lambda: not pool.workers and not any(alive(pid) for pid in warm))
    fresh = pid_of(await invoke(pool, "sleep", seconds=0))
    assert fresh not in warm


async def test_an_invocation_waiting_at_a_retire_runs_on_a_fresh_worker(
    make_pool: PoolFactory,
) -> None:
    pool, first, waiting = one_running_one_waiting(make_pool)
    pool.retire()
    old, new = pid_of(await first), pid_of(await waiting)
    assert old != new
    await wait_for(lambda: not alive(old))


async def test_replace_gives_the_next_worker_the_new_settings(make_pool: PoolFactory) -> None:
    pool = make_pool(environment={"GREETING": "before"})

    async def greeting() -> object:
        result = await invoke(pool, "whoami")
        assert isinstance(result, dict)
        return orjson.loads(result["body"])["greeting"]

    assert await greeting() == "before"
    spec = dataclasses.replace(
        pool.spec, environment={**pool.spec.environment, "GREETING": "after"}
    )
    assert pool.replace(spec, runtime_kind(spec.runtime, where="test")) == 1
    assert await greeting() == "after"


async def test_a_drained_pool_keeps_no_worker_warm(make_pool: PoolFactory) -> None:
    """A function a reload removed: what it holds finishes, then nothing stays."""
    pool = make_pool(concurrency=1)
    running = invoke(pool, "sleep", seconds=0.2)
    waiting = invoke(pool, "sleep", seconds=0)
    pool.drain()
    pids = {pid_of(await running), pid_of(await waiting)}
    await wait_for(lambda: not pool.workers and not any(alive(pid) for pid in pids))

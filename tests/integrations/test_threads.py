"""The handler threads: results and errors back on the loop, a bound on threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from wsgate.integrations.threads import HandlerThreads


async def test_results_and_errors_come_back_on_the_loop() -> None:
    pool = HandlerThreads(max_threads=2)
    loop = asyncio.get_running_loop()
    try:
        assert await pool.run(loop, lambda a, b: a + b, 2, 3) == 5

        def fails() -> None:
            raise ValueError("bad")

        with pytest.raises(ValueError, match="bad"):
            await pool.run(loop, fails)
        assert await pool.run(loop, threading.current_thread) is not threading.current_thread()
    finally:
        pool.shutdown()


async def test_never_more_threads_than_allowed_and_all_calls_run() -> None:
    pool = HandlerThreads(max_threads=3)
    loop = asyncio.get_running_loop()
    running = 0
    most = 0
    lock = threading.Lock()

    def work(index: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return index

    try:
        results = await asyncio.gather(*(pool.run(loop, work, i) for i in range(12)))
        assert results == list(range(12))
        assert most == 3
        assert len({t.name for t in threading.enumerate() if t.name.startswith("wsgate-")}) <= 3
    finally:
        pool.shutdown()


async def test_a_result_nobody_waits_for_is_dropped_quietly() -> None:
    pool = HandlerThreads(max_threads=1)
    loop = asyncio.get_running_loop()
    try:
        future = pool.run(loop, time.sleep, 0.05)
        future.cancel()
        # The next call runs after the abandoned one finished and was dropped.
        assert await pool.run(loop, lambda: "next") == "next"
    finally:
        pool.shutdown()


async def test_shutdown_stops_the_threads_and_refuses_new_calls() -> None:
    pool = HandlerThreads(max_threads=2, name="wsgate-stop-test")
    loop = asyncio.get_running_loop()
    await asyncio.gather(pool.run(loop, time.sleep, 0.01), pool.run(loop, time.sleep, 0.01))
    pool.shutdown()
    for _ in range(100):
        if not [t for t in threading.enumerate() if t.name.startswith("wsgate-stop-test")]:
            break
        await asyncio.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name.startswith("wsgate-stop-test")]
    with pytest.raises(RuntimeError):
        pool.run(loop, time.sleep, 0)


async def test_a_burst_of_blocking_calls_runs_side_by_side() -> None:
    """Calls queued before any thread is free still each get a thread, up to the cap."""
    pool = HandlerThreads(max_threads=3)
    loop = asyncio.get_running_loop()
    meeting = threading.Barrier(3, timeout=5)
    try:
        # Each call blocks until all three are running at once: serial threads would time out.
        results = await asyncio.gather(*(pool.run(loop, meeting.wait) for _ in range(3)))
        assert sorted(results) == [0, 1, 2]
    finally:
        pool.shutdown()

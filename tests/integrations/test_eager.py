"""Coroutines run at once, and finished by a task only when they wait."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from wsgate.integrations.eager import Resumed, run_now


async def test_run_now_finishes_a_coroutine_that_does_not_wait() -> None:
    done: list[str] = []

    async def at_once() -> None:
        done.append("ran")

    assert run_now(at_once(), asyncio.get_running_loop()) is None
    assert done == ["ran"]


async def test_run_now_raises_what_the_coroutine_raises_before_waiting() -> None:
    async def broken() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        run_now(broken(), asyncio.get_running_loop())


async def test_run_now_hands_a_waiting_coroutine_to_a_task() -> None:
    steps: list[str] = []

    async def waits() -> str:
        steps.append("before")
        await asyncio.sleep(0.01)
        steps.append("after")
        return "result"

    task = run_now(waits(), asyncio.get_running_loop())
    assert task is not None and steps == ["before"]
    assert await task == "result"
    assert steps == ["before", "after"]


async def test_a_resumed_coroutine_sees_cancellation_and_its_errors_propagate() -> None:
    release = asyncio.Event()
    seen: list[str] = []

    async def cleans_up() -> None:
        await asyncio.sleep(0)  # the first wait: the caller stepped it this far
        try:
            await release.wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise RuntimeError("cleanup failed") from None

    async def steps_then_resumes() -> None:
        coro = cleans_up()
        signal = coro.send(None)
        await Resumed(coro, signal)

    task = asyncio.create_task(steps_then_resumes())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await task
    assert seen == ["cancelled"]


async def test_a_resumed_coroutine_stays_in_its_task_and_its_context() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")
    scope = contextvars.copy_context()
    tasks: list[asyncio.Task[object] | None] = []

    async def reads() -> str:
        tasks.append(asyncio.current_task())
        variable.set("set before the wait")
        await asyncio.sleep(0)
        tasks.append(asyncio.current_task())
        return variable.get()

    coro = reads()
    signal = scope.run(coro.send, None)
    assert await Resumed(coro, signal, scope) == "set before the wait"
    assert tasks == [asyncio.current_task()] * 2
    assert variable.get("unset") == "unset"

"""A coroutine stepped to its first wait is finished by the task that awaits it."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from wsgate.integrations.eager import Resumed


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

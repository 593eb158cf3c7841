"""Redis commands issued in one turn of the event loop, sent in one pipeline.

Under load a node asks and answers many operations at once; each as a command of its own
costs a ``write``, a wake-up and a round trip. Here every command queued before the loop
next runs is sent in one pipeline (one write, one read), and each caller still gets its
own result or error. A command alone waits one turn of the loop, nothing more.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from wsgate.exceptions import RegistryError
from wsgate.registry.redis_link import Call, Command, Link, Publish
from wsgate.registry.redis_scripts import Script


__all__ = ["Coalescer"]


class Coalescer:
    """Queues scripts and publishes; sends each turn's commands in one pipeline."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._queued: list[tuple[Command, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """What ``script`` returns, run with ``keys`` and ``args``.

        Raises:
            RedisError: Redis refused the command or could not be reached.
            RegistryError: the coalescer was closed first.
        """
        return await self._queue(Call(script, keys, args))

    def queue_script(self, script: Script, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """``script``'s result to come, queued at once: for a caller that bounds the wait
        itself. Fails like ``script``."""
        return self._queue(Call(script, keys, args))

    async def publish(self, channel: str, message: bytes) -> int:
        """How many subscribers received ``message``; raises like ``script``."""
        received: int = await self._queue(Publish(channel, message))
        return received

    def _queue(self, command: Command) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queued:
            task = loop.create_task(self._send())  # runs once this turn's commands are in
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._queued.append((command, future))
        return future

    async def _send(self) -> None:
        queued, self._queued = self._queued, []
        try:
            results = await self._link.execute([command for command, _ in queued])
        except RedisError as exc:
            _fail(queued, exc)
            return
        except asyncio.CancelledError:  # closing: no caller may wait forever
            _fail(queued, RegistryError("the registry is closed"))
            raise
        except Exception as exc:
            _fail(queued, RegistryError(f"registry unavailable: {exc}"))
            return
        for (_, future), result in zip(queued, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def aclose(self) -> None:
        """Stop sending; callers still waiting get ``RegistryError``."""
        tasks = list(self._sending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _fail(self._queued, RegistryError("the registry is closed"))
        self._queued = []


def _fail(queued: list[tuple[Command, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in queued:
        if not future.done():
            future.set_exception(error)

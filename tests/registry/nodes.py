"""Nodes of the Redis registry for the tests: started in this process (the ``start_node``
fixture), in a process of their own to be frozen or killed (``node_process``), or on a
Redis the test stops and starts (``Restartable``); and the waits on what they do."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from tests.redis_support import RedisTarget
from wsgate.registry import ConnectionInfo, LocalConnection
from wsgate.registry.redis import RedisRegistry
from wsgate.registry.redis_keys import Keys


ROOT = Path(__file__).parents[2]

NodeProcess = tuple[asyncio.subprocess.Process, str, str]
"""A node's process, its node id and the id of the one connection it owns."""

StartNode = Callable[..., Awaitable[RedisRegistry]]
SpawnNode = Callable[..., AbstractAsyncContextManager[NodeProcess]]

PAYLOADS: list[str | bytes] = [
    "text",
    "",
    "héllo ✓ \U0001f600",
    "line\nbreak",
    b"",
    b"\x00\xff\n",
    b"\x00\xff\x80binary",
    b"text-like bytes",
    "x" * 131072,
    bytes(range(256)) * 512,  # 128 KiB, PostToConnection's largest
]
"""What a send carries to another node: str stays text and bytes stay binary, exactly."""


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; fail the test if it does not within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def lease_runs(raw: aioredis.Redis, keys: Keys, node_id: str) -> bool:
    """The node's lease has not lapsed, by Redis's clock."""
    ends = await raw.hget(keys.leases, node_id)
    seconds, micros = await raw.time()
    return ends is not None and int(ends) > seconds * 1000 + micros // 1000


async def lease_lapses(raw: aioredis.Redis, keys: Keys, node_id: str, timeout: float = 5.0) -> None:
    """Wait until the node's lease has lapsed (see ``eventually``)."""

    async def lapsed() -> bool:
        return not await lease_runs(raw, keys, node_id)

    await eventually(lapsed, timeout)


@asynccontextmanager
async def node_process(
    target: RedisTarget, prefix: str, connection_id: str | None = None, *, lease: float
) -> AsyncIterator[NodeProcess]:
    """A node in a process of its own (``redis_node``) owning one connection:
    ``connection_id``, or (None) an id the node made, which carries its tag. Killed at
    the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.registry.redis_node",
        target.url,
        "cluster" if target.cluster else "single",
        prefix,
        str(lease),
        connection_id or "TAGGED",
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, "the node process did not start"
        node_id, owned = line.decode().split()
        yield process, node_id, owned
    finally:
        if process.returncode is None:
            process.kill()  # SIGKILL ends a stopped process too
        await process.wait()


class AcrossNodes:
    """Registers on one node and operates from another: the contract, every call remote."""

    def __init__(self, home: RedisRegistry, away: RedisRegistry) -> None:
        self.home, self.away = home, away

    async def start(self) -> None:
        """Both nodes are started by the fixture."""

    def new_connection_id(self) -> str:
        return self.home.new_connection_id()

    async def reserve(self, connection_id: str) -> None:
        await self.home.reserve(connection_id)

    async def register(self, connection: LocalConnection) -> None:
        await self.home.register(connection)

    async def unregister(self, connection_id: str) -> None:
        await self.home.unregister(connection_id)

    async def send(self, connection_id: str, data: str | bytes) -> None:
        await self.away.send(connection_id, data)

    async def info(self, connection_id: str) -> ConnectionInfo:
        return await self.away.info(connection_id)

    async def close(self, connection_id: str) -> None:
        await self.away.close(connection_id)

    def local(self, connection_id: str) -> LocalConnection | None:
        return self.home.local(connection_id)

    def local_connections(self) -> list[LocalConnection]:
        return self.home.local_connections()

    async def aclose(self) -> None:
        """Both nodes are closed by the fixture."""


@dataclass
class Restartable:
    """A Redis of the test's own to stop and start again empty; on a cluster, the node
    serving the test's prefix."""

    target: RedisTarget
    prefix: str
    stop: Callable[[], Awaitable[None]]
    start: Callable[[], Awaitable[None]]

    @asynccontextmanager
    async def two_nodes(self, **options: Any) -> AsyncIterator[tuple[RedisRegistry, RedisRegistry]]:
        """Two nodes on it with ``options``, started; closed at the end."""
        target = self.target
        a = RedisRegistry(target.url, cluster=target.cluster, prefix=self.prefix, **options)
        b = RedisRegistry(target.url, cluster=target.cluster, prefix=self.prefix, **options)
        try:
            await a.start()
            await b.start()
            yield a, b
        finally:
            await a.aclose()
            await b.aclose()

"""Fixtures of the registry tests: each Redis test runs on a single Redis and on a Redis
Cluster of the session's own; nodes started on it under a prefix of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.redis_support import (
    LocalCluster,
    RedisTarget,
    delete_keys,
    redis_cluster,
    redis_server,
    require_redis,
    start_redis,
    unique_prefix,
)
from tests.registry.nodes import Restartable, SpawnNode, StartNode, node_process
from tests.server_support import free_port
from wsgate.registry.redis import RedisRegistry
from wsgate.registry.redis_keys import Keys


__all__ = ["redis_cluster"]  # a fixture


@pytest.fixture(params=["single", "cluster"])
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    """The Redis a test runs against: one Redis, or a cluster through one of its nodes."""
    if request.param == "cluster":
        target: RedisTarget = request.getfixturevalue("redis_cluster").target
        return target
    return RedisTarget(require_redis())


@pytest.fixture
async def prefix(redis_target: RedisTarget) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = unique_prefix()
    yield prefix
    await delete_keys(prefix, redis_target)


@pytest.fixture
async def start_node(prefix: str, redis_target: RedisTarget) -> AsyncIterator[StartNode]:
    """Start nodes on ``prefix`` (short lease and reply timeout); all closed at the end."""
    started: list[RedisRegistry] = []

    async def start(**options: Any) -> RedisRegistry:
        options = {"lease": 1.0, "reply_timeout": 1.0, **options}
        node = RedisRegistry(
            redis_target.url, cluster=redis_target.cluster, prefix=prefix, **options
        )
        await node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.aclose()


@pytest.fixture
def spawn_node(prefix: str, redis_target: RedisTarget) -> SpawnNode:
    """Start a node on ``prefix`` in a process of its own (``nodes.node_process``)."""
    return partial(node_process, redis_target, prefix)


@pytest.fixture
async def raw(redis_target: RedisTarget) -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at and tamper with the keys as another party would."""
    client = redis_target.client()
    yield client
    await client.aclose()


@pytest.fixture
def keys(prefix: str) -> Keys:
    """The names of the registry's keys under ``prefix``."""
    return Keys.under(prefix)


@pytest.fixture(params=["single", "cluster"])
async def restartable(request: pytest.FixtureRequest) -> AsyncIterator[Restartable]:
    """A Redis to stop and start again: one of the test's own, or the session cluster's
    node serving a prefix of the test's own."""
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        prefix = unique_prefix()
        index = cluster.serving(Keys.under(prefix).leases)

        async def start_again() -> None:
            await asyncio.to_thread(cluster.start, index)
            await asyncio.to_thread(cluster.wait_ok)

        try:
            yield Restartable(
                cluster.target, prefix, partial(asyncio.to_thread, cluster.stop, index), start_again
            )
        finally:
            if cluster.processes[index].poll() is not None:
                await start_again()
            await delete_keys(prefix, cluster.target)
        return
    program, port = redis_server(), free_port()
    servers = [await start_redis(program, port)]

    async def stop() -> None:
        servers[-1].terminate()
        await servers[-1].wait()

    async def start() -> None:
        servers.append(await start_redis(program, port))

    try:
        yield Restartable(RedisTarget(f"redis://127.0.0.1:{port}/0"), "wsgate:", stop, start)
    finally:
        if servers[-1].returncode is None:
            servers[-1].kill()
            await servers[-1].wait()

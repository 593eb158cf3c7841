"""Nodes that die: their connections are reaped by the survivors, each exactly once."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tests.registry.contract import RecordingConnection
from tests.registry.nodes import SpawnNode, StartNode, eventually
from wsgate.core.request import ConnectionContext
from wsgate.exceptions import Gone
from wsgate.registry.entry import decode_context, encode_context
from wsgate.registry.redis_keys import Keys


ID = "OOOOOOOOOOOOOOO="


def test_a_context_survives_its_encoding() -> None:
    context = ConnectionContext(ID, 1_700_000_000_000, "10.1.2.3", None, {"tenant": "a", "n": 3})
    assert decode_context(ID, encode_context(context)) == context
    with pytest.raises(ValueError):
        decode_context(ID, b'[1, "x"]')


async def test_the_connections_of_a_killed_node_are_reaped_once(
    start_node: StartNode, spawn_node: SpawnNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """Two survivors sweep; each orphan reaches exactly one ``on_orphan``, with what the
    dead node entered; the dead node's keys are gone."""
    seen: list[tuple[str, ConnectionContext]] = []
    survivors = [await start_node(), await start_node()]
    for node in survivors:

        async def handler(context: ConnectionContext, name: str = node.node_id) -> None:
            seen.append((name, context))

        node.on_orphan = handler
    async with spawn_node(ID, lease=1.0) as (process, node_id, _):
        await survivors[0].send(ID, "alive")
        assert await raw.hexists(keys.entries(node_id), ID)
        process.kill()
        await process.wait()

        async def reaped() -> bool:
            return bool(seen)

        await eventually(reaped, timeout=10)
        await asyncio.sleep(2.5)  # more sweeps: no second run
    assert len(seen) == 1
    context = seen[0][1]
    assert (context.connection_id, context.source_ip, context.connected_at) == (
        ID,
        "10.0.0.1",
        1_700_000_000_000,
    )
    assert await raw.exists(keys.conn(ID), keys.entries(node_id)) == 0
    assert not await raw.sismember(keys.nodes, node_id)
    with pytest.raises(Gone):
        await survivors[1].send(ID, "x")


async def test_without_on_orphan_a_node_reaps_nothing(
    start_node: StartNode, spawn_node: SpawnNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """A node the gateway gave no handler leaves the orphans to one that has it."""
    await start_node()
    async with spawn_node(ID, lease=1.0) as (process, node_id, _):
        process.kill()
        await process.wait()
        await asyncio.sleep(2.5)
        assert await raw.hexists(keys.entries(node_id), ID)


async def test_a_node_taken_for_dead_closes_its_reaped_connections(
    start_node: StartNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """A node that stalled past its lease finds its connections reaped: it closes them
    (1001), rather than keep clients whose $disconnect already ran unreachable."""
    a, b = await start_node(lease=0.6), await start_node()
    conn = RecordingConnection(ID)
    await a.register(conn)
    seen: list[ConnectionContext] = []

    async def handler(context: ConnectionContext) -> None:
        seen.append(context)

    b.on_orphan = handler
    # The stall, as others see it: the lease gone while a still runs.
    a._tasks[1].cancel()  # the lease keeper
    await raw.hdel(keys.leases, a.node_id)

    async def reaped() -> bool:
        return bool(seen)

    await eventually(reaped, timeout=10)
    assert await raw.exists(keys.tombstone(a.node_id)) == 1
    a._tasks[1] = asyncio.get_running_loop().create_task(a._keep_lease())  # it wakes up

    async def closed() -> bool:
        return conn.going_away

    await eventually(closed)
    assert await raw.exists(keys.tombstone(a.node_id)) == 0

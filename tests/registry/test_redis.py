"""The Redis registry against the shared contract, then nodes on one Redis as one API.

Every test uses a real Redis under a key prefix of its own (``tests.redis_support``), and
runs twice: on a single Redis and on a Redis Cluster (``conftest.redis_target``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tests.e2e.conftest import make_config
from tests.redis_support import RedisTarget, keys_under, redis_server, start_redis
from tests.registry.contract import RecordingConnection, RegistryContract
from tests.registry.nodes import (
    PAYLOADS,
    ROOT,
    AcrossNodes,
    Restartable,
    SpawnNode,
    StartNode,
    eventually,
    lease_lapses,
    lease_runs,
)
from tests.server_support import free_port
from wsgate.config.model import RegistrySettings
from wsgate.exceptions import BufferFull, ConfigError, DuplicateConnection, Gone, RegistryError
from wsgate.registry import Registry, create_registry
from wsgate.registry.redis import RedisRegistry
from wsgate.registry.redis_keys import Keys
from wsgate.registry.redis_link import Call, connect
from wsgate.registry.redis_scripts import Script
from wsgate.server.gateway import build_gateway


_: type[Registry] = RedisRegistry

ID = "RRRRRRRRRRRRRRR="


class TestRedisRegistry(RegistryContract):
    """One node: every operation finds the connection in this process."""

    @pytest.fixture
    async def registry(self, prefix: str, redis_target: RedisTarget) -> AsyncIterator[Registry]:
        registry = create_registry(
            "redis", url=redis_target.url, cluster=redis_target.cluster, prefix=prefix
        )
        assert isinstance(registry, RedisRegistry)
        await registry.start()
        yield registry
        await registry.aclose()


class TestRedisRegistryAcrossNodes(RegistryContract):
    """Two nodes: every send, info and close crosses Redis to the owning node."""

    @pytest.fixture
    async def registry(self, start_node: StartNode) -> AsyncIterator[Registry]:
        yield AcrossNodes(await start_node(), await start_node())


# --- two nodes ------------------------------------------------------------------------


async def test_payloads_cross_nodes_exactly(start_node: StartNode) -> None:
    """str stays text and bytes stay binary, byte for byte, whatever they hold."""
    a, b = await start_node(), await start_node()
    conn = RecordingConnection(ID)
    await a.register(conn)
    for payload in PAYLOADS:
        await b.send(ID, payload)
    assert conn.received == PAYLOADS
    assert [type(data) for data in conn.received] == [type(data) for data in PAYLOADS]
    assert b.local(ID) is None and a.local(ID) is conn


async def test_info_and_close_from_another_node(start_node: StartNode) -> None:
    """info returns the owner's snapshot; close closes it there, and again is Gone."""
    a, b = await start_node(), await start_node()
    conn = RecordingConnection(ID)
    await a.register(conn)
    assert await b.info(ID) == conn.info()
    await b.close(ID)
    assert conn.closed_by_api
    with pytest.raises(Gone):
        await b.close(ID)
    with pytest.raises(Gone):
        await b.info(ID)


async def test_an_operation_that_comes_between_reserve_and_register_waits_for_it(
    start_node: StartNode,
) -> None:
    """Another node may ask for a connection between its directory entry and its 101: the
    owner holds the operation until the connection is registered, or answers Gone if its
    upgrade failed."""
    a, b = await start_node(), await start_node()
    await a.reserve(ID)
    sending = asyncio.create_task(b.send(ID, "early"))
    await asyncio.sleep(0.05)  # the request reaches the owner, which holds it
    assert not sending.done()
    conn = RecordingConnection(ID)
    await a.register(conn)
    await asyncio.wait_for(sending, 5)
    assert conn.received == ["early"]

    await a.reserve("KKKKKKKKKKKKKKK=")
    sending = asyncio.create_task(b.send("KKKKKKKKKKKKKKK=", "never"))
    await asyncio.sleep(0.05)
    await a.unregister("KKKKKKKKKKKKKKK=")
    with pytest.raises(Gone):
        await asyncio.wait_for(sending, 5)


async def test_concurrent_operations_each_get_their_own_reply(start_node: StartNode) -> None:
    """Many operations in flight at once from one node: each is answered, none lost."""
    a, b = await start_node(), await start_node()
    conns = [RecordingConnection(f"{n:015d}=") for n in range(5)]
    for conn in conns:
        await a.register(conn)
    await asyncio.gather(
        *(b.send(conn.connection_id, f"{i}") for i in range(40) for conn in conns),
        *(b.info(conn.connection_id) for conn in conns),
    )
    for conn in conns:
        assert sorted(conn.received, key=lambda data: int(data)) == [f"{i}" for i in range(40)]


class _FullConnection(RecordingConnection):
    async def send(self, data: str | bytes) -> None:
        raise BufferFull(self.connection_id)


class _BrokenConnection(RecordingConnection):
    async def send(self, data: str | bytes) -> None:
        raise RuntimeError("a bug in the connection")


async def test_the_owners_refusals_reach_the_asker(start_node: StartNode) -> None:
    """BufferFull on the owner is BufferFull (429) on the asker; a failure is not Gone."""
    a, b = await start_node(), await start_node()
    await a.register(_FullConnection("FULLFULLFULLFUL="))
    await a.register(_BrokenConnection("BROKENBROKENBRO="))
    with pytest.raises(BufferFull):
        await b.send("FULLFULLFULLFUL=", "x")
    with pytest.raises(RegistryError) as failed:
        await b.send("BROKENBROKENBRO=", "x")
    assert not isinstance(failed.value, Gone)


async def test_unregister_is_gone_on_every_node(
    start_node: StartNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """Once the owner unregistered an id, it is Gone everywhere and out of the directory."""
    a, b = await start_node(), await start_node()
    conn = RecordingConnection(ID)
    await a.register(conn)
    assert await raw.get(keys.conn(ID)) == a.node_id.encode()
    await a.unregister(ID)
    for operation in (b.send(ID, "x"), b.info(ID), b.close(ID)):
        with pytest.raises(Gone):
            await operation
    assert await raw.exists(keys.conn(ID)) == 0
    assert conn.received == []


async def test_unregister_leaves_an_entry_that_points_elsewhere(
    start_node: StartNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """A node only ever removes directory entries that name it."""
    a, b = await start_node(), await start_node()
    await a.register(RecordingConnection(ID))
    await raw.set(keys.conn(ID), b.node_id)
    await a.unregister(ID)
    assert await raw.get(keys.conn(ID)) == b.node_id.encode()


async def test_an_id_is_registered_once_across_nodes(start_node: StartNode) -> None:
    """A second node cannot register an id a live node owns; the owner keeps it."""
    a, b = await start_node(), await start_node()
    conn = RecordingConnection(ID)
    await a.register(conn)
    with pytest.raises(DuplicateConnection):
        await b.register(RecordingConnection(ID))
    assert b.local(ID) is None and b.local_connections() == []
    await b.send(ID, "still a's")
    assert conn.received == ["still a's"]


async def test_a_stale_entry_is_gone_removed_and_free_to_take(
    start_node: StartNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """An entry naming a node without a live lease is Gone at once and removed; the id
    may be registered again."""
    a, b = await start_node(), await start_node()
    await raw.set(keys.conn(ID), b"0123456789abcdef")  # a node that died long ago
    with pytest.raises(Gone):
        await b.send(ID, "x")
    assert await raw.exists(keys.conn(ID)) == 0
    await raw.set(keys.conn(ID), b"0123456789abcdef")
    conn = RecordingConnection(ID)
    await a.register(conn)
    await b.send(ID, "taken over")
    assert conn.received == ["taken over"]


async def test_a_node_whose_lease_lapsed_enters_its_connections_again(
    start_node: StartNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """If other nodes took a live node for dead and removed its entries (it stalled, or
    Redis lost the keys), the node writes them again at its next renewal."""
    a, b = await start_node(lease=0.6), await start_node()
    conn = RecordingConnection(ID)
    await a.register(conn)
    await raw.hdel(keys.leases, a.node_id)
    await raw.delete(keys.conn(ID))
    with pytest.raises(Gone):
        await b.send(ID, "lost")

    async def entered_again() -> bool:
        return bool(await raw.get(keys.conn(ID)) == a.node_id.encode())

    await eventually(entered_again)
    assert await lease_runs(raw, keys, a.node_id)
    await b.send(ID, "back")
    assert conn.received == ["back"]


async def test_aclose_removes_the_nodes_keys(
    start_node: StartNode,
    prefix: str,
    keys: Keys,
    raw: aioredis.Redis,
    redis_target: RedisTarget,
) -> None:
    """A node that stops leaves neither its lease nor its entries nor its link advert
    behind."""
    a, b = await start_node(), await start_node()
    await a.register(RecordingConnection(ID))
    await a.register(RecordingConnection("SSSSSSSSSSSSSSS="))
    await a.unregister("SSSSSSSSSSSSSSS=")
    await a.aclose()
    left = {keys.leases.encode(), keys.links.encode(), keys.secret.encode()}
    assert set(await keys_under(prefix, redis_target)) == left
    assert await raw.hkeys(keys.leases) == [b.node_id.encode()]
    assert await raw.hkeys(keys.links) == [b.node_tag.encode()]  # a's advert went
    assert a.local_connections() == []
    with pytest.raises(Gone):
        await b.send(ID, "x")


async def test_entries_expire_after_the_longest_connection_life(
    start_node: StartNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """A directory entry carries a TTL, so a node that dies leaves no key for ever."""
    a = await start_node(entry_ttl=30)
    await a.register(RecordingConnection(ID))
    assert 25_000 < await raw.pttl(keys.conn(ID)) <= 30_000
    assert 0 < await raw.pttl(keys.leases) <= 1_000
    assert await lease_runs(raw, keys, a.node_id)


# --- nodes that die -------------------------------------------------------------------


async def listeners(target: RedisTarget, channel: str) -> int:
    """How many listen on a node's inbox, where it is served."""
    link = await connect(target.url, cluster=target.cluster, max_connections=2, timeout=1.0)
    try:
        if not target.cluster:
            return int((await link.client.pubsub_numsub(channel))[0][1])
        node = link.node_client(channel)
        try:
            _, count = await node.execute_command(  # type: ignore[no-untyped-call]
                "PUBSUB", "SHARDNUMSUB", channel
            )
            return int(count)
        finally:
            await node.aclose()
    finally:
        await link.aclose()


async def test_a_killed_node_is_gone_at_once(
    start_node: StartNode,
    spawn_node: SpawnNode,
    keys: Keys,
    raw: aioredis.Redis,
    redis_target: RedisTarget,
) -> None:
    """A node whose process ended no longer reads its inbox: Gone without waiting for a
    reply, even while its lease runs."""
    b = await start_node(reply_timeout=5.0)
    async with spawn_node(ID, lease=30.0) as (process, node_id, _):
        await b.send(ID, "alive")
        process.kill()
        await process.wait()

        async def inbox_unread() -> bool:
            return await listeners(redis_target, keys.inbox(node_id)) == 0

        await eventually(inbox_unread)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(Gone):
            await b.send(ID, "x")
        assert loop.time() - began < 1.0
        assert await lease_runs(raw, keys, node_id)  # the lease had not run out


async def test_a_frozen_node_is_gone_then_its_entries_removed(
    start_node: StartNode, spawn_node: SpawnNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """A node that stops answering (frozen, cut off) costs at most the reply timeout; once
    its lease lapsed its entries are Gone at once and removed."""
    b = await start_node(reply_timeout=1.0)
    async with spawn_node(ID, lease=1.0) as (process, node_id, _):
        await b.send(ID, "alive")
        os.kill(process.pid, signal.SIGSTOP)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(Gone):
            await b.send(ID, "x")
        assert loop.time() - began < 2.0  # never hangs
        await lease_lapses(raw, keys, node_id)
        began = loop.time()
        with pytest.raises(Gone):
            await b.info(ID)
        assert loop.time() - began < 0.5  # no reply awaited
        assert await raw.exists(keys.conn(ID)) == 0


# --- Redis that goes away ----------------------------------------------------------


async def test_nodes_recover_when_redis_restarts_empty(restartable: Restartable) -> None:
    """While Redis is away remote calls fail without a false Gone and connections still
    register; once it is back, empty, the nodes take their leases, enter their connections
    again and listen on their inboxes: everything is reachable again."""
    async with restartable.two_nodes(lease=0.6, reply_timeout=0.5) as (a, b):
        first, second = RecordingConnection(ID), RecordingConnection("TTTTTTTTTTTTTTT=")
        await a.register(first)
        await b.send(ID, "before")
        await restartable.stop()
        with pytest.raises(RegistryError) as failed:
            await b.send(ID, "during")
        assert not isinstance(failed.value, Gone)
        await a.register(second)  # served by a now, entered in the directory later
        await a.send("TTTTTTTTTTTTTTT=", "local")
        await restartable.start()

        async def reachable() -> bool:
            try:
                await b.send(ID, "after")
                await b.send("TTTTTTTTTTTTTTT=", "after")
            except (Gone, RegistryError):
                return False
            return True

        await eventually(reachable, timeout=10)
        assert first.received[0] == "before" and first.received[-1] == "after"
        assert second.received[0] == "local" and second.received[-1] == "after"


# --- wiring ---------------------------------------------------------------------------


def test_the_config_sets_the_lease_and_the_reply_timeout() -> None:
    """registry.lease and registry.reply_timeout reach the Redis registry a gateway gets."""
    settings = RegistrySettings(backend="redis", lease=1.5, reply_timeout=0.25)
    gateway = build_gateway(make_config().model_copy(update={"registry": settings}))
    registry = gateway.registry
    assert isinstance(registry, RedisRegistry)
    assert (registry.lease, registry.reply_timeout) == (1.5, 0.25)


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("redis://:s3cret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("redis://127.0.0.1:1/0?password=s3cret", "redis://127.0.0.1:1/0?password=***"),
    ],
)
async def test_start_names_an_unreachable_redis(url: str, named: str) -> None:
    """A Redis that cannot be reached stops start-up with the URL named, password hidden."""
    registry = RedisRegistry(url)
    with pytest.raises(ConfigError) as failed:
        await registry.start()
    message = str(failed.value)
    assert message.startswith(f"registry.url: cannot reach Redis at {named}: ")
    assert "s3cret" not in message
    await registry.aclose()


def test_a_wildcard_link_listen_needs_an_advertised_address() -> None:
    """Other nodes cannot be told a wildcard: the registry refuses it as the config does."""
    for host in ("0.0.0.0", "::", ""):
        with pytest.raises(ConfigError, match="registry.link_advertise: needed"):
            RedisRegistry("redis://127.0.0.1:1/0", link_listen=(host, 0))
    RedisRegistry("redis://127.0.0.1:1/0", link_listen=("::", 0), link_advertise=("::1", 0))


async def test_a_redis_that_stops_answering_fails_in_time() -> None:
    """A Redis that takes connections but answers nothing (frozen): every call of the link
    fails with RedisError once its timeout is over, a node's start with ConfigError, and a
    started node serves on and closes, none of them waiting for ever."""
    program, port = redis_server(), free_port()
    server = await start_redis(program, port)
    url = f"redis://127.0.0.1:{port}/0"
    link = await connect(url, cluster=False, max_connections=4, timeout=0.3)
    node = RedisRegistry(url, lease=3.0, reply_timeout=0.3)
    await node.start()
    loop = asyncio.get_running_loop()
    try:
        server.send_signal(signal.SIGSTOP)
        async with asyncio.timeout(20):  # a call that hangs fails the test, not the session
            for call in (
                partial(link.run, Call(Script.of("return 1"), [], [])),
                partial(link.read_hash, "{t}:links"),
                partial(link.scan_hash, "{t}:entries", 0, 10),
                partial(link.load, [Script.of("return 2")]),
            ):
                began = loop.time()
                with pytest.raises(RedisError):
                    await call()
                assert loop.time() - began < 3
            starting = RedisRegistry(url, reply_timeout=0.3)
            with pytest.raises(ConfigError, match="cannot reach Redis"):
                await starting.start()
            await starting.aclose()
            # Served here, entered in the directory once Redis answers again.
            connection = RecordingConnection(node.new_connection_id())
            await node.register(connection)
            with pytest.raises(RegistryError):
                await node.send("TTTTTTTTTTTTTTT=", "to another node's connection")
            await node.aclose()
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        await server.wait()
        await link.aclose()
        await node.aclose()


def test_a_memory_gateway_never_imports_redis() -> None:
    """redis-py is loaded only by a gateway configured with the redis backend."""
    script = (
        "import sys\n"
        "from wsgate.config.model import GatewayConfig\n"
        "from wsgate.server.gateway import build_gateway\n"
        "build_gateway(GatewayConfig.model_validate({})).runners.threads.shutdown()\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'redis' or m.endswith('.redis')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)

"""The node link: operations on another node's connection go straight to it over TCP,
authenticated by the cluster's secret in Redis, and everything the link cannot vouch for
is decided by the directory as before. Real Redis (single and cluster), real sockets,
real processes for the owners that are frozen or killed."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.registry.contract import RecordingConnection, RegistryContract
from tests.registry.nodes import (
    PAYLOADS,
    AcrossNodes,
    Restartable,
    SpawnNode,
    StartNode,
    eventually,
    lease_lapses,
    lease_runs,
)
from wsgate.exceptions import Gone, RegistryError
from wsgate.registry import Registry
from wsgate.registry.peer_client import LinkDown, open_link
from wsgate.registry.peer_wire import SEND_TEXT, encode_request, frame
from wsgate.registry.redis import RedisRegistry
from wsgate.registry.redis_keys import Keys


EVENT_LOOPS = ("asyncio", "uvloop")  # wsgate serve runs on uvloop: its transports differ


async def linked(away: RedisRegistry, connection_id: str) -> None:
    """Wait until ``away`` reaches ``connection_id``'s node over the link."""

    async def up() -> bool:
        return away.linked(connection_id)

    await eventually(up)


def owned_by(node: RedisRegistry, rest: str = "LLLLLLLLLLL") -> str:
    """An id in the shape ``node`` makes its own: its tag, then 11 characters and ``=``."""
    return node.node_tag + rest + "="


# --- the contract, every call over the link -------------------------------------------


class TestRedisRegistryOverTheLink(RegistryContract):
    """Two nodes: every send, info and close goes to the owning node over the link; only
    a Gone is checked with the directory."""

    @pytest.fixture
    async def registry(self, start_node: StartNode) -> AsyncIterator[Registry]:
        # A longer lease than the other tests': on a loaded machine a late renewal would
        # make a Gone a 500 (the asking node cannot trust the directory without its lease).
        home, away = await start_node(lease=3.0), await start_node(lease=3.0)
        await linked(away, owned_by(home))
        yield AcrossNodes(home, away)
        assert away.remote_calls["redis"] == 0  # none went through the Redis path

    def id(self, registry: Registry, letter: str) -> str:
        assert isinstance(registry, AcrossNodes)
        return owned_by(registry.home, letter * 11)


# --- two nodes ------------------------------------------------------------------------


async def test_payloads_cross_the_link_exactly(start_node: StartNode) -> None:
    """str stays text and bytes stay binary, byte for byte, up to a POST's 128 KiB."""
    a, b = await start_node(), await start_node()
    cid = a.new_connection_id()
    assert cid.startswith(a.node_tag) and len(cid) == 16 and cid.endswith("=")
    conn = RecordingConnection(cid)
    await a.register(conn)
    await linked(b, cid)
    for payload in PAYLOADS:
        await b.send(cid, payload)
    assert conn.received == PAYLOADS
    assert [type(p) for p in conn.received] == [type(p) for p in PAYLOADS]
    info = await b.info(cid)
    assert info.connection_id == cid and info.source_ip == "10.0.0.1"
    assert b.remote_calls == {"link": len(PAYLOADS) + 1}


async def test_concurrent_operations_share_the_link_in_order(start_node: StartNode) -> None:
    """Many operations at once go out in few writes and reach the owner in order."""
    a, b = await start_node(), await start_node()
    conns = [RecordingConnection(a.new_connection_id()) for _ in range(20)]
    for conn in conns:
        await a.register(conn)
    await linked(b, conns[0].connection_id)
    await asyncio.gather(*(b.send(conn.connection_id, f"{n}") for n in range(50) for conn in conns))
    for conn in conns:
        assert conn.received == [f"{n}" for n in range(50)]
    assert b.remote_calls["redis"] == 0


async def test_gone_is_the_directorys_word(start_node: StartNode) -> None:
    """The owner's Gone is checked with the directory: an id with one node's tag that
    another node holds (made elsewhere) still reaches it, through Redis."""
    a, b, c = await start_node(), await start_node(), await start_node()
    foreign = owned_by(a, "FFFFFFFFFFF")
    conn = RecordingConnection(foreign)
    await c.register(conn)  # its tag names a, its owner is c
    await linked(b, foreign)
    await b.send(foreign, "found")
    assert conn.received == ["found"]
    await c.unregister(foreign)
    with pytest.raises(Gone):
        await b.send(foreign, "gone")


async def test_the_link_comes_back_after_it_drops(start_node: StartNode) -> None:
    """A link that drops is opened again; meanwhile operations go through Redis; no
    message is lost or doubled."""
    a, b = await start_node(), await start_node()
    cid = a.new_connection_id()
    conn = RecordingConnection(cid)
    await a.register(conn)
    await linked(b, cid)
    await b.send(cid, "1")
    server = a._link_server  # the owner drops every link, as a network fault would
    assert server is not None
    for serving in list(server._links):
        serving.abort()

    async def dropped() -> bool:
        return not b.linked(cid)

    await eventually(dropped)
    await b.send(cid, "2")
    await linked(b, cid)
    await b.send(cid, "3")
    assert conn.received == ["1", "2", "3"]
    assert b.remote_calls["link"] >= 2


# --- authentication -------------------------------------------------------------------


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = struct.unpack("<I", await reader.readexactly(4))
    return await reader.readexactly(length)


async def _closed_by_peer(reader: asyncio.StreamReader, within: float) -> bool:
    """The other end closed the connection (EOF or reset) within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def test_a_link_without_the_secret_is_refused(start_node: StartNode) -> None:
    """Whoever does not hold the cluster's secret gets nothing through: a wrong proof, an
    operation without the handshake and silence are all dropped, and nothing reaches the
    connection; a client with a wrong secret is refused."""
    a = await start_node()
    cid = a.new_connection_id()
    conn = RecordingConnection(cid)
    await a.register(conn)
    address = a.link_address
    assert address is not None
    host, _, port = address.rpartition(":")
    operation = encode_request(1, SEND_TEXT, cid, b"injected")

    # A proof made without the secret.
    reader, writer = await asyncio.open_connection(host, int(port))
    challenge = await _read_frame(reader)
    assert challenge[:1] == b"C"
    writer.write(frame(b"P" + os.urandom(16) + os.urandom(32) + b"intruder") + operation)
    assert await _closed_by_peer(reader, 2.0)
    writer.close()

    # An operation straight away.
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(operation)
    assert await _closed_by_peer(reader, 2.0)
    writer.close()

    # Nothing at all: dropped after the timeout (the nodes' reply_timeout, 1 s).
    reader, writer = await asyncio.open_connection(host, int(port))
    await _read_frame(reader)
    assert await _closed_by_peer(reader, 3.0)
    writer.close()

    # The real client, with another secret.
    with pytest.raises(LinkDown):
        await open_link(
            host,
            int(port),
            node_id="intruder",
            peer_node_id=a.node_id,
            secret=b"not the cluster's",
            timeout=2.0,
            on_lost=lambda _: None,
        )
    assert conn.received == []


async def test_a_node_with_another_secret_goes_through_redis(
    start_node: StartNode, raw: aioredis.Redis, keys: Keys
) -> None:
    """A node that took another secret cannot open a link; its operations still arrive,
    through Redis."""
    a = await start_node(lease=30.0)  # renews (and reads the secret again) in 10 s
    await raw.set(keys.secret, "another secret")
    b = await start_node(lease=30.0)
    cid = a.new_connection_id()
    conn = RecordingConnection(cid)
    await a.register(conn)
    for n in range(5):
        await b.send(cid, f"{n}")
        await asyncio.sleep(0.1)
    assert not b.linked(cid)
    assert conn.received == [f"{n}" for n in range(5)]
    assert b.remote_calls == {"redis": 5}


# --- owners that stop answering -------------------------------------------------------


async def test_a_frozen_owner_is_not_gone_while_its_lease_runs(
    start_node: StartNode, spawn_node: SpawnNode, keys: Keys, raw: aioredis.Redis
) -> None:
    """An owner that stops answering over the link costs the reply timeout, and the
    answer is an error to retry, not Gone, while its lease runs; Gone once it lapsed."""
    b = await start_node(reply_timeout=0.5)
    async with spawn_node(lease=3.0) as (process, node_id, cid):
        await linked(b, cid)
        await b.send(cid, "alive")
        os.kill(process.pid, signal.SIGSTOP)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(RegistryError) as failed:
            await b.send(cid, "frozen")
        assert not isinstance(failed.value, Gone)
        assert loop.time() - began < 2.0  # never hangs
        assert await lease_runs(raw, keys, node_id)
        await lease_lapses(raw, keys, node_id, timeout=10)
        with pytest.raises(Gone):
            await b.send(cid, "lapsed")


async def test_a_killed_owner_is_gone(start_node: StartNode, spawn_node: SpawnNode) -> None:
    """An owner whose process ended: the link closes, and its connections are Gone (the
    directory's check: nobody listens on its inbox any more)."""
    b = await start_node(reply_timeout=5.0)
    async with spawn_node(lease=30.0) as (process, _, cid):
        await linked(b, cid)
        await b.send(cid, "alive")
        process.kill()
        await process.wait()

        async def gone() -> bool:
            try:
                await b.send(cid, "x")
            except Gone:
                return True
            except RegistryError:
                return False  # the link closed under this one, or the inbox is still held
            raise AssertionError("a killed owner took a message")

        await eventually(gone)


# --- Redis away -----------------------------------------------------------------------


async def test_while_redis_is_away_the_owner_answers_as_long_as_its_lease_surely_runs(
    restartable: Restartable,
) -> None:
    """Without Redis the link still carries operations while the owner is sure of its
    lease; after that, an error to retry (the owner cannot vouch, Redis cannot tell),
    never Gone; all reachable again once Redis is back."""
    async with restartable.two_nodes(lease=1.0, reply_timeout=0.5) as (a, b):
        cid = a.new_connection_id()
        conn = RecordingConnection(cid)
        await a.register(conn)
        await linked(b, cid)
        await restartable.stop()
        await b.send(cid, "during")  # the owner renewed within the lease
        await asyncio.sleep(1.2)  # no renewal since: not sure any more
        with pytest.raises(RegistryError) as failed:
            await b.send(cid, "unsure")
        assert not isinstance(failed.value, Gone)
        await restartable.start()

        async def reachable() -> bool:
            try:
                await b.send(cid, "after")
            except Gone:
                raise AssertionError("a live connection was taken for gone") from None
            except RegistryError:
                return False
            return True

        await eventually(reachable, timeout=15)
        assert conn.received[0] == "during" and conn.received[-1] == "after"
        assert "unsure" not in conn.received

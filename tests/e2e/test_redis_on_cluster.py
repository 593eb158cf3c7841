"""Gateways on a Redis Cluster act as one API: a client connects to one, boto3 manages it
through the other; a gateway killed with SIGKILL has its connections' ``$disconnect`` run
once by a survivor; the node serving the API's slot restarting empty costs 500s, never a
410. A real three-primary cluster (``tests.redis_support``), sockets, boto3, processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway, two_gateways, wait_for
from tests.redis_support import (
    LocalCluster,
    delete_keys,
    keys_under,
    redis_cluster,
    unique_prefix,
)
from wsgate.config.model import RegistrySettings


__all__ = ["redis_cluster"]  # a fixture

ROOT = Path(__file__).parents[2]


async def entered(cluster: LocalCluster, prefix: str, count: int) -> None:
    """Wait until the nodes' entries under ``prefix`` hold ``count`` connections."""
    client = cluster.target.client()
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            held = 0
            for key in await keys_under(prefix, cluster.target):
                if b":conns:" in key:
                    held += await client.hlen(key)
            if held >= count:
                return
            assert asyncio.get_running_loop().time() < deadline, f"{held} entered"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def gateways(
    cluster: LocalCluster, prefix: str, **registry: Any
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    """Gateways A and B in this process, on the cluster under ``prefix``."""
    settings = RegistrySettings(
        backend="redis", url=cluster.target.url, cluster=True, prefix=prefix, **registry
    )
    try:
        async with two_gateways(settings) as running:
            yield running
    finally:
        await delete_keys(prefix, cluster.target)


async def connection_id(count: int = 1) -> str:
    """The id of the ``count``-th client to have had its ``$connect``."""
    await wait_for(lambda: len(handlers.events_for("$connect")) >= count)
    return str(handlers.events_for("$connect")[count - 1]["requestContext"]["connectionId"])


async def status(gateway: RunningGateway, connection: str, data: bytes = b"x") -> int:
    """The status of a POST @connections through ``gateway``: 200, 410, 500..."""
    try:
        response = await gateway.call("post_to_connection", ConnectionId=connection, Data=data)
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


async def test_a_connection_on_one_gateway_is_managed_through_the_other(
    redis_cluster: LocalCluster,
) -> None:
    """POST, GET and DELETE @connections on B reach a client connected to A; every key
    of the API stage is in one slot; an unknown id is 410 through either gateway."""
    prefix = unique_prefix().rstrip(":")
    async with gateways(redis_cluster, prefix) as (a, b):
        async with websockets.connect(a.ws_url(), user_agent_header="agent/9") as ws:
            connection = await connection_id()
            await b.call("post_to_connection", ConnectionId=connection, Data=b"hello")
            assert await ws.recv() == "hello"
            await b.call("post_to_connection", ConnectionId=connection, Data=b"\xff\x00\n")
            assert await ws.recv() == b"\xff\x00\n"
            info = await b.call("get_connection", ConnectionId=connection)
            assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/9"}

            keys = await keys_under(prefix, redis_cluster.target)
            assert any(key.endswith(f":conn:{connection}".encode()) for key in keys)
            assert len({redis_cluster.serving(key.decode()) for key in keys}) == 1

            response = await b.call("delete_connection", ConnectionId=connection)
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1000
        await wait_for(lambda: bool(handlers.events_for("$disconnect")))
        for gateway in (a, b):
            assert await status(gateway, connection) == 410
            assert await status(gateway, "Zm9vYmFyYmF6cXU=") == 410


async def test_while_the_slots_node_restarts_empty_calls_get_500_not_410(
    redis_cluster: LocalCluster,
) -> None:
    """The primary serving the API stage's slot stops, and starts again without its data:
    a live connection's POSTs through the other gateway answer 500 meanwhile (once the
    owner, which answers over the node link, cannot vouch for its lease), never 410, and
    200 once the gateways entered their connections again."""
    prefix = unique_prefix().rstrip(":")
    async with gateways(redis_cluster, prefix, lease=2.0, reply_timeout=1.0) as (a, b):
        async with websockets.connect(a.ws_url()) as ws:
            connection = await connection_id()
            assert await status(b, connection, b"before") == 200
            assert await ws.recv() == "before"
            (key, *_) = await keys_under(prefix, redis_cluster.target)
            index = redis_cluster.serving(key.decode())
            try:
                await asyncio.to_thread(redis_cluster.stop, index)
                if await status(b, connection, b"during") == 200:  # the link, within the lease
                    assert await ws.recv() == "during"
                await asyncio.sleep(2.2)  # no renewal for a lease: the owner cannot vouch
                assert await status(b, connection, b"unsure") == 500
            finally:
                await asyncio.to_thread(redis_cluster.start, index)
                await asyncio.to_thread(redis_cluster.wait_ok)
            seen: list[int] = []
            deadline = asyncio.get_running_loop().time() + 20
            while not seen or seen[-1] != 200:
                assert asyncio.get_running_loop().time() < deadline, seen
                seen.append(await status(b, connection, b"after"))
                await asyncio.sleep(0.05)
            assert 410 not in seen, seen
            assert await ws.recv() == "after"


@contextlib.asynccontextmanager
async def gateway_process(
    cluster: LocalCluster, prefix: str, events: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """A gateway on the cluster in a process of its own
    (``tests.registry.gateway_node``); its port."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.registry.gateway_node"),
        *(cluster.target.url, prefix, "1.0", "cluster"),
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={
            **os.environ,
            "WSGATE_FAULT_EVENTS": str(events),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        },
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line, "the gateway process did not start"
        yield process, int(line)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def _events(path: Path, route_key: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return [
        {"pid": record["pid"], **record["event"]}
        for record in records
        if record["event"]["requestContext"]["routeKey"] == route_key
    ]


async def test_the_connections_of_a_killed_gateway_get_their_disconnect_once(
    redis_cluster: LocalCluster, tmp_path: Path
) -> None:
    """Gateway A is killed with SIGKILL: once its lease lapsed, gateway B runs the
    ``$disconnect`` of each of A's connections exactly once, with a lost connection's 1006
    and the authorizer's context of its ``$connect``."""
    prefix = unique_prefix().rstrip(":")
    events = tmp_path / "events.jsonl"
    sockets: list[Any] = []
    try:
        async with (
            gateway_process(redis_cluster, prefix, events) as (a, a_port),
            gateway_process(redis_cluster, prefix, events) as (b, b_port),
        ):
            for n in range(3):
                url = f"ws://127.0.0.1:{a_port}/dev?tenant=t{n}"
                sockets.append(await websockets.connect(url))
            await wait_for(lambda: len(_events(events, "$connect")) == 3)
            on_a = sorted(e["requestContext"]["connectionId"] for e in _events(events, "$connect"))
            # A's entries (what $disconnect needs) follow each 101 by a round trip: a kill
            # before the last one lands would leave that connection without them.
            await entered(redis_cluster, prefix, 3)
            a.kill()
            await a.wait()
            await wait_for(lambda: len(_events(events, "$disconnect")) >= 3, timeout=20)
            await asyncio.sleep(2.5)  # more sweeps: no second run
            disconnects = _events(events, "$disconnect")
            assert sorted(e["requestContext"]["connectionId"] for e in disconnects) == on_a
            assert {e["pid"] for e in disconnects} == {b.pid}
            for event in disconnects:
                assert event["requestContext"]["disconnectStatusCode"] == 1006
                assert event["requestContext"]["authorizer"]["tenant"].startswith("t")
            keys = await keys_under(prefix, redis_cluster.target)
            assert not [k for k in keys if any(k.endswith(c.encode()) for c in on_a)]
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        await delete_keys(prefix, redis_cluster.target)

"""Redis faults cost no connection: a Redis that restarts empty never makes a live
connection 410, and the connections of a gateway killed with SIGKILL get their
``$disconnect``, once, from a surviving gateway. Real Redis, sockets, boto3, processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import redis.asyncio as aioredis
import websockets
from botocore.exceptions import ClientError

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway, make_config, wait_for
from tests.redis_support import (
    REDIS_URL,
    delete_keys,
    keys_under,
    redis_server,
    require_redis,
    start_redis,
    unique_prefix,
)
from tests.server_support import free_port
from wsgate.config.model import RegistrySettings
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


ROOT = Path(__file__).parents[2]


def _client(port: int) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"http://127.0.0.1:{port}/dev",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def _post(client: Any, connection_id: str, data: bytes = b"x") -> int:
    """The status of a POST @connections: 200, or the error's (410, 500...)."""
    try:
        response = client.post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# --- Redis restarts empty -------------------------------------------------------------


async def test_a_redis_restart_never_answers_410_for_a_live_connection() -> None:
    """Redis shut down without saving and started again, empty, on the same port: POSTs
    through the other gateway answer 200 or 500 (retryable) all along, never 410: 200
    over the node link while the owner is sure of its lease, then 500 until the gateways
    entered their connections again; a connection that closed while Redis was away is
    410 afterwards."""
    program, port = redis_server(), free_port()
    redis = await start_redis(program, port)
    url = f"redis://127.0.0.1:{port}/0"
    registry = RegistrySettings(backend="redis", url=url, prefix="t", lease=2.0, reply_timeout=2.0)
    config = make_config().model_copy(update={"registry": registry})
    handlers.EVENTS.clear()
    servers: list[GatewayServer] = []
    clients: list[Any] = []
    try:
        for _ in range(2):
            servers.append(GatewayServer(build_gateway(config)))
            await servers[-1].start()
        a, b = RunningGateway(servers[0], "dev"), RunningGateway(servers[1], "dev")
        for _ in range(11):
            clients.append(await websockets.connect(a.ws_url()))
        await wait_for(lambda: len(handlers.events_for("$connect")) == 11)
        ids = [e["requestContext"]["connectionId"] for e in handlers.events_for("$connect")]
        live, closing = ids[:10], ids[10]
        api = _client(b.port)

        async def statuses(targets: list[str]) -> list[int]:
            return list(
                await asyncio.gather(*(asyncio.to_thread(_post, api, cid) for cid in targets))
            )

        assert await statuses(ids) == [200] * 11

        stopper = aioredis.Redis.from_url(url)
        with contextlib.suppress(aioredis.ConnectionError):
            await stopper.shutdown(nosave=True)
        await stopper.aclose()
        await redis.wait()
        await clients[10].close()  # its connection really ends while Redis is away
        await wait_for(lambda: bool(handlers.events_for("$disconnect")))
        # The owner answers over the node link while it is sure of its lease...
        assert set(await statuses(live)) <= {200, 500}
        await asyncio.sleep(2.5)
        # ...and cannot vouch for it a lease after its last renewal: Redis must decide.
        assert set(await statuses(live)) == {500}
        redis = await start_redis(program, port)

        seen: list[int] = []

        async def all_reached() -> bool:
            answered = await statuses(live)
            seen.extend(answered)
            return answered == [200] * 10

        await _until(all_reached)
        assert 410 not in seen, seen

        closed: list[int] = []

        async def closed_is_gone() -> bool:
            closed.extend(await statuses([closing]))
            return closed[-1] == 410

        await _until(closed_is_gone)
        assert 200 not in closed, closed
        assert await statuses(live) == [200] * 10
    finally:
        for ws in clients:
            await ws.close()
        for server in servers:
            await server.stop()
        if redis.returncode is None:
            redis.kill()
            await redis.wait()


# --- a gateway killed with SIGKILL ----------------------------------------------------


@contextlib.asynccontextmanager
async def gateway_process(
    prefix: str, events: Path, lease: float = 1.0
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """A gateway in a process of its own (``tests.registry.gateway_node``); its port."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.registry.gateway_node",
        REDIS_URL,
        prefix,
        str(lease),
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
    found = []
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        if record["event"]["requestContext"]["routeKey"] == route_key:
            found.append({"pid": record["pid"], **record["event"]})
    return found


async def test_the_connections_of_a_killed_gateway_get_their_disconnect_once(
    tmp_path: Path,
) -> None:
    """Gateway A is killed with SIGKILL: once its lease lapsed, the surviving gateways (B
    and C) remove its directory entries and run ``$disconnect`` for each of its
    connections exactly once between them, with a lost connection's 1006 and no reason
    and the context of its ``$connect`` (identity, connectedAt, the authorizer's)."""
    require_redis()
    prefix = unique_prefix().rstrip(":")
    events = tmp_path / "events.jsonl"
    sockets: list[Any] = []
    try:
        async with (
            gateway_process(prefix, events) as (a, a_port),
            gateway_process(prefix, events) as (b, b_port),
            gateway_process(prefix, events) as (c, c_port),
        ):
            for n in range(5):
                url = f"ws://127.0.0.1:{a_port}/dev?tenant=t{n}"
                sockets.append(await websockets.connect(url, user_agent_header=f"agent/{n}"))
            sockets.append(await websockets.connect(f"ws://127.0.0.1:{b_port}/dev?tenant=b"))

            async def connected() -> bool:
                return len(_events(events, "$connect")) == 6

            await _until(connected)
            connects = {e["requestContext"]["connectionId"]: e for e in _events(events, "$connect")}
            on_a = [cid for cid, e in connects.items() if e["pid"] == a.pid]
            on_b = [cid for cid, e in connects.items() if e["pid"] == b.pid]
            assert len(on_a) == 5 and len(on_b) == 1
            api = _client(c_port)
            for cid in on_a:
                assert await asyncio.to_thread(_post, api, cid) == 200

            a.kill()
            await a.wait()

            async def all_disconnected() -> bool:
                return {
                    e["requestContext"]["connectionId"] for e in _events(events, "$disconnect")
                } >= set(on_a)

            await _until(all_disconnected, timeout=15)
            await asyncio.sleep(3.0)  # two more sweeps of each survivor: no second one
            disconnects = _events(events, "$disconnect")
            assert sorted(e["requestContext"]["connectionId"] for e in disconnects) == sorted(on_a)
            assert {e["pid"] for e in disconnects} <= {b.pid, c.pid}
            for event in disconnects:
                context = event["requestContext"]
                connect = connects[context["connectionId"]]["requestContext"]
                assert context["disconnectStatusCode"] == 1006
                assert context["disconnectReason"] == ""
                assert context["eventType"] == "DISCONNECT"
                assert context["connectedAt"] == connect["connectedAt"]
                assert context["identity"] == connect["identity"]
                assert context["authorizer"] == connect["authorizer"]
                assert context["authorizer"]["tenant"].startswith("t")

            # Out of the directory, Gone through every survivor; B's own client unharmed.
            keys = await keys_under(prefix)
            assert not [k for k in keys if any(k.endswith(cid.encode()) for cid in on_a)]
            assert len([k for k in keys if b":conns:" in k]) == 1  # B's client's
            for port in (b_port, c_port):
                for cid in on_a:
                    assert await asyncio.to_thread(_post, _client(port), cid) == 410
            assert await asyncio.to_thread(_post, api, on_b[0], b"still here") == 200
            assert await sockets[-1].recv() == "still here"
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        await delete_keys(prefix)

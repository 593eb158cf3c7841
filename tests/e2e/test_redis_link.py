"""The node link end to end: gateways on one Redis answer management calls for each
other's connections straight from the owner, with AWS's answers, and an owner killed in
the middle of a stream of POSTs costs no message reported delivered and no false 410.
Real Redis, sockets, boto3 and processes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
import websockets
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway, make_config, two_gateways, wait_for
from tests.e2e.test_redis_faults import _client, _events, _post, _until, gateway_process
from tests.redis_support import (
    REDIS_URL,
    delete_keys,
    keys_under,
    require_redis,
    unique_prefix,
)
from wsgate.config.model import RegistrySettings
from wsgate.registry.redis import RedisRegistry


EVENT_LOOPS = ("asyncio", "uvloop")  # wsgate serve runs on uvloop: its transports differ


async def raw_hkeys(key: bytes) -> list[bytes]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return [k if isinstance(k, bytes) else k.encode() for k in await client.hkeys(key)]
    finally:
        await client.aclose()


async def _remote_calls(gateway: RunningGateway) -> dict[str, float]:
    """``wsgate_registry_remote_calls_total`` of ``gateway``'s /metrics, by path."""
    url = f"http://127.0.0.1:{gateway.server.admin_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    return {
        sample.labels["path"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "wsgate_registry_remote_calls_total"
    }


async def test_post_get_and_delete_from_another_gateway_go_over_the_link() -> None:
    """A client on gateway A; POST (text and binary), GET and DELETE @connections through
    gateway B reach it over the link, with the answers AWS gives; afterwards 410."""
    require_redis()
    prefix = unique_prefix().rstrip(":")
    registry = RegistrySettings(backend="redis", url=REDIS_URL, prefix=prefix, lease=2.0)
    config = make_config(admin={"listen": "127.0.0.1:0"})
    try:
        async with two_gateways(registry, config) as (a, b):
            away = b.server.gateway.registry
            assert isinstance(away, RedisRegistry)
            ws = await websockets.connect(a.ws_url(), user_agent_header="link-test/1")
            await wait_for(lambda: len(handlers.events_for("$connect")) == 1)
            cid = handlers.events_for("$connect")[0]["requestContext"]["connectionId"]
            home = a.server.gateway.registry
            assert isinstance(home, RedisRegistry) and cid.startswith(home.node_tag)

            async def up() -> bool:
                return away.linked(cid)

            await _until(up)
            api = _client(b.port)
            await asyncio.to_thread(api.post_to_connection, ConnectionId=cid, Data=b"hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            await asyncio.to_thread(api.post_to_connection, ConnectionId=cid, Data=b"\xff\x00")
            assert await asyncio.wait_for(ws.recv(), 5) == b"\xff\x00"
            info = await asyncio.to_thread(api.get_connection, ConnectionId=cid)
            assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "link-test/1"}
            assert info["ConnectedAt"] <= info["LastActiveAt"]
            await asyncio.to_thread(api.delete_connection, ConnectionId=cid)
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1000
            assert await asyncio.to_thread(_post, api, cid) == 410
            try:
                await asyncio.to_thread(api.get_connection, ConnectionId=cid)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "GoneException"
            else:
                raise AssertionError("GET of a closed connection answered")
            # Every call went over the link (B's metrics say so); only the last two Gones were
            # checked in Redis.
            assert await _remote_calls(b) == {"link": 6.0, "redis": 0.0}
    finally:
        await delete_keys(prefix)


async def test_an_owner_killed_mid_stream_loses_no_message_reported_delivered(
    tmp_path: Path,
) -> None:
    """Gateway A holds a client, gateway B takes a steady stream of POSTs for it, and A is
    killed with SIGKILL in the middle: every POST answered 200 reached the client, none
    was 410 before the kill, and they are 410 (never 200) once A is gone."""
    require_redis()
    prefix = unique_prefix().rstrip(":")
    events = tmp_path / "events.jsonl"
    received: list[str] = []
    answers: list[tuple[int, float, float, int]] = []  # number, sent, answered, status
    try:
        async with (
            gateway_process(prefix, events, lease=2.0) as (a, a_port),
            gateway_process(prefix, events, lease=2.0) as (_, b_port),
        ):
            ws = await websockets.connect(f"ws://127.0.0.1:{a_port}/dev?tenant=t")

            async def connected() -> bool:
                return len(_events(events, "$connect")) == 1

            await _until(connected)
            cid = _events(events, "$connect")[0]["requestContext"]["connectionId"]
            # A advertised its link under the tag its ids start with: B posts over it.
            (links,) = [key for key in await keys_under(prefix) if key.endswith(b":links")]
            assert cid[:4].encode() in await raw_hkeys(links)

            async def read() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for message in ws:
                        assert isinstance(message, str)
                        received.append(message)

            reader = asyncio.get_running_loop().create_task(read())
            stop = threading.Event()

            def post_stream(lane: int) -> None:
                api = _client(b_port)
                for n in range(lane, 100_000, 4):
                    if stop.is_set():
                        return
                    sent = time.monotonic()
                    status = _post(api, cid, f"{n}".encode())
                    answers.append((n, sent, time.monotonic(), status))

            posters = [asyncio.to_thread(post_stream, lane) for lane in range(4)]
            streaming = asyncio.gather(*posters)

            async def some_delivered() -> bool:
                return len([s for *_, s in answers if s == 200]) >= 200

            await _until(some_delivered, timeout=30)
            killed_at = time.monotonic()
            a.kill()
            await a.wait()

            async def gone() -> bool:
                late = [s for _, sent, _, s in answers if sent > killed_at + 0.5]
                return late[-20:].count(410) == 20

            await _until(gone, timeout=30)
            stop.set()
            await streaming
            await asyncio.wait_for(reader, 10)
    finally:
        await delete_keys(prefix)

    delivered = set(received)
    for n, sent, answered, status in answers:
        assert status in (200, 410, 500), (n, status)
        if status == 200:
            assert f"{n}" in delivered, f"message {n} answered 200 but never arrived"
            assert sent < killed_at + 1.0, f"message {n} answered 200 after the kill"
        if status == 410:
            assert answered > killed_at, f"message {n} answered 410 before the kill"
    assert [status for *_, status in answers].count(200) >= 200

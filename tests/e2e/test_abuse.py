"""What one client can make the gateway hold, probed as an attacker would, over real sockets.

Each test is a finding: pipelined calls never read, requests trickled a byte at a time,
many connections from one address, and headers a client sends to pass for the gateway's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for
from tests.e2e.test_wire import raw_connection, read_eof, read_response
from wsgate.server.frontdoor import FrontDoor
from wsgate.server.traffic import SourceLimits


AUTHORIZER = {
    "type": "request",
    "handler": "tests.e2e.handlers:authorizer",
    "identity_source": ["route.request.querystring.token"],
}


async def refused(url: str, **kwargs: Any) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, open_timeout=5, **kwargs):
            pass
    response = info.value.response
    return int(response.status_code), bytes(response.body or b"")


async def echoes(url: str, **kwargs: Any) -> None:
    async with websockets.connect(url, open_timeout=2, **kwargs) as ws:
        await ws.send('{"action": "echo"}')
        assert await asyncio.wait_for(ws.recv(), 2) == '{"action": "echo"}'


async def front_door_of(local_port: int) -> FrontDoor:
    """The gateway's FrontDoor serving the client socket bound to ``local_port``."""
    for _ in range(100):
        for thing in gc.get_objects():
            try:  # some are left over from other tests, half torn down, or weak proxies
                if type(thing) is not FrontDoor or thing.lost:
                    continue
                peer = thing.transport.get_extra_info("peername")
            except (AttributeError, ReferenceError):
                continue
            if peer and peer[1] == local_port:
                return thing
        await asyncio.sleep(0.01)
    raise AssertionError("no front door for that client")


# 1. Pipelined management calls, never read


async def test_pipelined_gets_never_read_hold_a_bounded_write_buffer(
    gateway: RunningGateway,
) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # The client reads nothing, and its kernel holds little of what it is sent.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", gateway.port))
    get = b"GET /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n\r\n"  # 410, ~200 B
    sender = loop.create_task(loop.sock_sendall(sock, get * 40_000))  # 2.3 MB of calls
    try:
        door = await front_door_of(sock.getsockname()[1])
        largest = 0
        for _ in range(150):  # 1.5 s: the answers would have grown to megabytes
            largest = max(largest, door.transport.get_write_buffer_size())
            await asyncio.sleep(0.01)
        assert largest <= 256 * 1024, f"{largest} bytes of answers held for one client"
        # Another client is served at once.
        await asyncio.wait_for(echoes(gateway.ws_url()), 2)
    finally:
        sender.cancel()
        sock.close()


async def test_pipelined_calls_all_answered_once_the_client_reads(
    gateway: RunningGateway,
) -> None:
    get = b"GET /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n\r\n"
    async with raw_connection(gateway.port) as (reader, writer):
        writer.write(get * 5000)
        await asyncio.sleep(0.3)  # answers pile up unread: reading pauses, then resumes
        statuses = [(await read_response(reader)).status for _ in range(5000)]
    assert statuses == [410] * 5000


# 2. Requests trickled a byte at a time


@contextlib.asynccontextmanager
async def trickling(port: int, head: bytes, rest: bytes) -> AsyncIterator[asyncio.StreamReader]:
    """Send ``head`` at once, then ``rest`` a byte every 50 ms, for as long as the block
    runs; yields the reader."""
    async with raw_connection(port) as (reader, writer):
        writer.write(head)

        async def trickle() -> None:
            for byte in rest:
                await asyncio.sleep(0.05)
                if writer.transport.is_closing():
                    return
                writer.write(bytes((byte,)))

        task = asyncio.get_running_loop().create_task(trickle())
        try:
            yield reader
        finally:
            task.cancel()


TIMEOUT = 0.5
LONG = b"x" * 1000  # 50 s at a byte per 50 ms


async def timed_out(reader: asyncio.StreamReader) -> bytes:
    """Everything sent until the gateway closed; it must close within the timeout + slack."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    data = await asyncio.wait_for(reader.read(), 3)
    assert reader.at_eof()
    assert loop.time() - started < 2.5
    return data


def is_408(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 408 ") and orjson.loads(body) == {
        "message": "Request Timeout"
    }


@pytest.mark.parametrize(
    "head, rest",
    [
        (b"", b"GET /dev HTTP/1.1\r\nHost: x\r\nX-Pad: " + LONG),
        (b"", b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\nX-Pad: " + LONG),
        (
            b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1000\r\n\r\n",
            LONG,
        ),
    ],
    ids=["upgrade-head", "management-head", "content-length-body"],
)
async def test_a_request_trickled_to_the_front_door_is_408(
    gateway_factory: GatewayFactory, head: bytes, rest: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = await gateway_factory(server={"request_timeout": TIMEOUT})
    async with trickling(running.port, head, rest) as reader:
        assert is_408(await timed_out(reader))
    assert sum("408" in r.getMessage() for r in caplog.records if r.name == "wsgate.handshake") == 1
    await echoes(running.ws_url())


@pytest.mark.parametrize(
    "head",
    [
        b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3e8\r\n",
        b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
        b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 200000\r\n\r\n",
        b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.0\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
    ],
    ids=["chunked", "expect", "over-the-limit", "http-1.0"],
)
async def test_a_body_trickled_to_aiohttp_is_cut_off(
    gateway_factory: GatewayFactory, head: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = await gateway_factory(server={"request_timeout": TIMEOUT})
    async with trickling(running.port, head, LONG) as reader:
        data = await timed_out(reader)
    # What aiohttp may have said (100 Continue) but no answer to the call itself.
    assert b" 200 " not in data and b" 410 " not in data
    assert any("not complete within" in r.getMessage() for r in caplog.records)
    await echoes(running.ws_url())


async def test_a_second_request_trickled_to_aiohttp_is_cut_off(
    gateway_factory: GatewayFactory,
) -> None:
    """A kept-alive aiohttp connection: the first call is answered, the second trickled."""
    running = await gateway_factory(server={"request_timeout": TIMEOUT})
    chunked = (
        b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    async with trickling(
        running.port, chunked + b"1\r\nx\r\n0\r\n\r\n" + chunked + b"3e8\r\n", LONG
    ) as reader:
        assert (await read_response(reader)).status == 410
        data = await timed_out(reader)  # the second, still trickling, is cut off
    assert b" 410 " not in data


async def test_a_quick_call_handed_to_aiohttp_is_answered(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(server={"request_timeout": TIMEOUT})
    chunked = (
        b"POST /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
    )
    async with raw_connection(running.port) as (reader, writer):
        for _ in range(3):
            writer.write(chunked)
            assert (await read_response(reader)).status == 410
            await asyncio.sleep(TIMEOUT * 0.8)  # busy, but every call quick
        assert await read_eof(reader) == b""  # then idle: closed


# 3. Per-source-address limits


async def test_connections_per_ip_beyond_the_limit_are_429_before_the_authorizer(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(authorizer=AUTHORIZER, server={"max_connections_per_ip": 2})
    url = running.ws_url("token=allow")
    async with websockets.connect(url), websockets.connect(url) as second:
        invoked = len(handlers.EVENTS)
        status, body = await refused(url)
        assert status == 429
        assert set(orjson.loads(body)) == {"message"}
        assert len(handlers.EVENTS) == invoked  # the authorizer never ran
        # Another address is not counted with this one.
        await echoes(url, local_addr=("127.0.0.2", 0))
        await second.close()
        await wait_for(lambda: running.server.gateway.traffic.connections == 1)
        await echoes(url)  # a place was freed


async def test_upgrades_per_second_beyond_the_bucket_are_429(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        server={"connection_rate_per_ip": 2, "connection_burst_per_ip": 3}
    )
    for _ in range(3):
        await echoes(running.ws_url())
    status, body = await refused(running.ws_url())
    assert status == 429 and set(orjson.loads(body)) == {"message"}
    await echoes(running.ws_url(), local_addr=("127.0.0.2", 0))
    await asyncio.sleep(0.6)  # one token back at 2 a second
    await echoes(running.ws_url())
    assert (await refused(running.ws_url()))[0] == 429


def test_the_per_address_table_forgets_idle_addresses() -> None:
    limits = SourceLimits(max_open=2, rate=10, burst=5)
    for n in range(1000):
        assert limits.admit(f"10.0.{n // 256}.{n % 256}", now=0.0)
        limits.release(f"10.0.{n // 256}.{n % 256}")
    assert limits.admit("10.9.9.9", now=0.0)  # held open
    assert len(limits) == 1001
    # Once buckets are full again (0.5 s at 10/s for 5), a later admission sweeps them.
    assert limits.admit("10.9.9.8", now=10.0)
    assert len(limits) == 2  # the open one and the newest
    assert limits.admit("10.9.9.9", now=10.0)
    assert not limits.admit("10.9.9.9", now=10.0)  # two open: the cap


def test_the_per_address_table_has_a_ceiling() -> None:
    limits = SourceLimits(max_open=None, rate=1, burst=5, max_sources=100)
    for n in range(1000):  # one new address after another, each leaving its bucket short
        assert limits.admit(f"2001:db8::{n:x}", now=n * 0.001)
        limits.release(f"2001:db8::{n:x}")
    assert len(limits) <= 100


# 4. One view of the request's headers


async def test_a_forwarded_header_identity_source_is_the_gateways_own(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        authorizer={
            **AUTHORIZER,
            "identity_source": [
                "route.request.header.X-Forwarded-Proto",
                "route.request.querystring.token",
            ],
        }
    )
    await echoes(running.ws_url("token=allow"))  # a plain client: not 401
    await echoes(running.ws_url("token=allow"), additional_headers={"X-Forwarded-Proto": "bogus"})
    seen = [
        event
        for event in handlers.EVENTS
        if event.get("type") == "REQUEST" or event["requestContext"]["routeKey"] == "$connect"
    ]
    for event in seen:  # the authorizer's and $connect's alike
        headers = {k.lower(): v for k, v in event["headers"].items()}
        assert headers["x-forwarded-proto"] == "http"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert event["multiValueHeaders"]["X-Forwarded-Proto"] == ["http"]
    assert len(seen) == 4

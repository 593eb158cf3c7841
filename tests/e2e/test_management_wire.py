"""Management calls answered by the front door itself, and those it hands to aiohttp."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tests.e2e.conftest import GatewayFactory, RunningGateway
from tests.e2e.test_wire import connect_ids, raw_connection, read_eof, read_response


def post(connection_id: str, body: str, *extra: str) -> bytes:
    head = [
        f"POST /dev/@connections/{connection_id} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body.encode())}",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


async def test_pipelined_calls_are_answered_in_order_on_one_connection(
    gateway: RunningGateway,
) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        get = f"GET /dev/@connections/{connection_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        gone = b"GET /dev/@connections/bm9uZQ%3D%3D HTTP/1.1\r\nHost: x\r\n\r\n"
        async with raw_connection(gateway.port) as (reader, writer):
            writer.write(post(connection_id, "one") + get + gone + post(connection_id, "two"))
            statuses = [(await read_response(reader)).status for _ in range(4)]
        assert statuses == [200, 200, 410, 200]
        assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)] == ["one", "two"]


async def test_answers_carry_awss_headers_and_keep_the_connection(
    gateway: RunningGateway,
) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        async with raw_connection(gateway.port) as (reader, writer):
            for n in range(3):
                writer.write(post(connection_id, f"m{n}"))
                response = await read_response(reader)
                assert response.status == 200
                assert response.headers["x-amzn-requestid"]
                assert response.headers["date"].endswith(" GMT")
                assert "connection" not in response.headers
            writer.write(
                f"DELETE /dev/@connections/{connection_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            deleted = await read_response(reader)
            assert deleted.status == 204 and "content-length" not in deleted.headers
        assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(3)] == ["m0", "m1", "m2"]


async def test_connection_close_is_honoured(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        async with raw_connection(gateway.port) as (reader, writer):
            writer.write(post(connection_id, "last", "Connection: close"))
            response = await read_response(reader)
            assert response.status == 200 and response.headers["connection"] == "close"
            assert await read_eof(reader) == b""
        assert await asyncio.wait_for(ws.recv(), 5) == "last"


async def test_a_chunked_post_is_served_by_aiohttp_all_the_same(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        request = (
            f"POST /dev/@connections/{connection_id} HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\nchunk\r\n3\r\ned!\r\n0\r\n\r\n"
        ).encode()
        async with raw_connection(gateway.port) as (reader, writer):
            writer.write(request)
            assert (await read_response(reader)).status == 200
        assert await asyncio.wait_for(ws.recv(), 5) == "chunked!"


async def test_a_body_over_the_limit_is_413_and_the_client_gets_nothing(
    gateway: RunningGateway,
) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        async with raw_connection(gateway.port) as (reader, writer):
            writer.write(post(connection_id, "x" * 131073, "Connection: close"))
            response = await read_response(reader)
            assert response.status == 413
        await ws.send('{"action": "echo"}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"action": "echo"}'


async def test_an_idle_kept_alive_connection_is_closed(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(server={"request_timeout": 0.3})
    async with raw_connection(running.port) as (reader, writer):
        writer.write(post("bm9uZQ==", "x"))
        assert (await read_response(reader)).status == 410
        assert await read_eof(reader) == b""  # closed after 0.3 s of silence


async def test_thousands_of_pipelined_calls_in_one_write_are_all_answered(
    gateway: RunningGateway,
) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        get = f"GET /dev/@connections/{connection_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        async with raw_connection(gateway.port) as (reader, writer):
            writer.write(get * 3000 + post(connection_id, "after 3000"))
            statuses = [(await read_response(reader)).status for _ in range(3001)]
        assert statuses == [200] * 3001
        assert await asyncio.wait_for(ws.recv(), 5) == "after 3000"


async def test_nothing_pipelined_after_connection_close_is_taken(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        async with raw_connection(gateway.port) as (reader, writer):
            last = post(connection_id, "first", "Connection: close")
            writer.write(last + post(connection_id, "never read"))
            assert (await read_response(reader)).status == 200
            assert await read_eof(reader) == b""
        assert await asyncio.wait_for(ws.recv(), 5) == "first"
        await ws.send('{"action": "echo"}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"action": "echo"}'


@pytest.mark.parametrize("waits", [False, True], ids=["at-once", "after-a-wait"])
async def test_a_fault_in_the_gateway_answers_500_and_keeps_the_connection(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch, waits: bool
) -> None:
    """A management call that fails inside the gateway (a bug, simulated at the registry)
    is answered 500, never left hanging, and the kept-alive connection goes on."""
    registry = gateway.server.gateway.registry

    async def broken_send(connection_id: str, data: str | bytes) -> None:
        if waits:
            await asyncio.sleep(0)
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(registry, "send", broken_send)
    async with websockets.connect(gateway.ws_url()):
        (connection_id,) = connect_ids()
        get = f"GET /dev/@connections/{connection_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        async with raw_connection(gateway.port) as (reader, writer):
            writer.write(post(connection_id, "lost"))
            failed = await read_response(reader)
            assert failed.status == 500
            assert failed.headers["x-amzn-errortype"] == "InternalServerErrorException"
            assert failed.json_message() == "Internal server error"
            writer.write(get)
            assert (await read_response(reader)).status == 200

"""$disconnect exactly once, whoever ends the connection; timers; shutdown."""

from __future__ import annotations

import asyncio
import socket

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for


def disconnects() -> list[tuple[int, str]]:
    return [
        (e["requestContext"]["disconnectStatusCode"], e["requestContext"]["disconnectReason"])
        for e in handlers.events_for("$disconnect")
    ]


async def test_client_close_code_and_reason_reach_disconnect(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.close(code=4001, reason="bye now")
    await wait_for(lambda: bool(disconnects()))
    await asyncio.sleep(0.05)
    assert disconnects() == [(4001, "bye now")]


async def test_close_without_status_is_1005(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        # A close frame with an empty payload, as `ws.close()` without a code sends in
        # browsers; websockets' public API always sends a code, so use its sans-I/O layer.
        ws.protocol.send_close()
        ws.send_data()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    await wait_for(lambda: bool(disconnects()))
    assert disconnects() == [(1005, "Client-side close frame status not set")]


async def test_disconnect_event_has_the_aws_shape(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url("name=x")):
        pass
    await wait_for(lambda: bool(disconnects()))
    event = handlers.events_for("$disconnect")[0]
    assert set(event) == {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"}
    domain = event["requestContext"]["domainName"]
    assert event["headers"] == {
        "Host": domain,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    assert event["multiValueHeaders"]["x-restapi"] == [""]
    context = event["requestContext"]
    assert context["routeKey"] == "$disconnect"
    assert context["eventType"] == "DISCONNECT"
    connect = handlers.events_for("$connect")[0]["requestContext"]
    assert context["connectionId"] == connect["connectionId"]
    assert context["requestId"] != connect["requestId"]


async def test_abrupt_tcp_loss_still_runs_disconnect_once(gateway: RunningGateway) -> None:
    ws = await websockets.connect(gateway.ws_url())
    ws.transport.abort()
    await wait_for(lambda: bool(disconnects()))
    await asyncio.sleep(0.05)
    assert disconnects() == [(1006, "")]


async def test_idle_connection_is_closed_with_1001_going_away(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(api={"idle_timeout": 0.4})
    async with websockets.connect(running.ws_url()) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1001
    await wait_for(lambda: bool(disconnects()))
    assert disconnects() == [(1001, "Going away")]


async def test_traffic_in_either_direction_keeps_the_connection(
    gateway_factory: GatewayFactory,
) -> None:
    # A wide margin between the steps (0.2 s) and the idle timeout (1 s): a management call
    # runs boto3 in a thread, slow on a loaded machine.
    running = await gateway_factory(api={"idle_timeout": 1.0})
    async with websockets.connect(running.ws_url()) as ws:
        connection_id = handlers.events_for("$connect")[0]["requestContext"]["connectionId"]
        for step in range(12):
            await asyncio.sleep(0.2)
            if step % 2:
                await ws.send('{"action": "echo"}')
            else:
                await running.call("post_to_connection", ConnectionId=connection_id, Data=b"k")
            await ws.recv()
        # 2.4 s passed, more than twice the idle timeout, and the connection is open.
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'
    await wait_for(lambda: bool(disconnects()))
    assert disconnects() == [(1000, "")]


async def test_maximum_duration_closes_even_a_busy_connection(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(api={"max_connection_duration": 0.6})
    async with websockets.connect(running.ws_url()) as ws:
        with pytest.raises(ConnectionClosed):
            for _ in range(100):
                await ws.send('{"action": "echo"}')
                await ws.recv()
                await asyncio.sleep(0.05)
        assert ws.close_code == 1001
    await wait_for(lambda: bool(disconnects()))
    assert disconnects() == [(1001, "Going away")]


async def test_shutdown_closes_every_connection_and_runs_each_disconnect(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory()
    clients = [await websockets.connect(running.ws_url()) for _ in range(3)]
    await running.server.stop()
    for ws in clients:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1001
    assert disconnects() == [(1001, "Going away")] * 3


async def test_shutdown_runs_disconnect_for_clients_that_never_answer_the_close(
    gateway_factory: GatewayFactory,
) -> None:
    """A client that does not answer the close frame is dropped halfway through the
    shutdown timeout, so that its $disconnect still runs before the timeout."""
    running = await gateway_factory(server={"shutdown_timeout": 1.0})
    answering = [await websockets.connect(running.ws_url()) for _ in range(2)]
    silent = []
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(
            b"GET /dev HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        silent.append(writer)  # reads nothing more and never answers
    await wait_for(lambda: len(handlers.events_for("$connect")) == 5)
    try:
        await running.server.stop()
        assert disconnects() == [(1001, "Going away")] * 5
    finally:
        for writer in silent:
            writer.transport.abort()
        for ws in answering:
            await ws.close()


async def test_a_client_that_never_sends_its_handshake_is_dropped(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(server={"request_timeout": 0.3})
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", running.port))
    sock.setblocking(False)
    try:
        await loop.sock_sendall(sock, b"GET /dev HTTP/1.1\r\nHost: x\r\n")  # never finished
        data = await asyncio.wait_for(loop.sock_recv(sock, 1024), 5)
        assert data.startswith(b"HTTP/1.1 408 ")  # answered, then closed
        assert await asyncio.wait_for(loop.sock_recv(sock, 1024), 5) == b""
    finally:
        sock.close()
    # And the gateway still serves others.
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


def held_routes() -> dict[str, object]:
    return {
        "$disconnect": "tests.e2e.handlers:disconnect",
        "held": {"handler": "tests.e2e.handlers:held", "response": True},
        "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
    }


async def test_waiting_handlers_keep_their_order_free_and_their_answers_come(
    gateway_factory: GatewayFactory,
) -> None:
    """Each waiting handler keeps the task it began in; the connection reads on meanwhile."""
    handlers.HELD.clear()
    running = await gateway_factory(routes=held_routes())
    async with websockets.connect(running.ws_url()) as ws:
        for key in ("a", "b", "c"):
            await ws.send(f'{{"action": "held", "key": "{key}"}}')
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'
        await wait_for(lambda: len(handlers.events_for("held")) == 3)
        for key in ("b", "c", "a"):
            handlers.HELD[key].set()
            assert await ws.recv() == f"released {key}"
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'
    await wait_for(lambda: bool(disconnects()))
    assert disconnects() == [(1000, "")]


async def test_a_connection_ending_while_handlers_wait_disconnects_once(
    gateway_factory: GatewayFactory,
) -> None:
    handlers.HELD.clear()
    running = await gateway_factory(routes=held_routes())
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "held", "key": "first"}')
        await ws.send('{"action": "held", "key": "second"}')
        await wait_for(lambda: len(handlers.events_for("held")) == 2)
        await ws.close(code=4002, reason="leaving early")
    await wait_for(lambda: bool(disconnects()))
    # The handlers finish after the connection is gone: their answers are dropped.
    handlers.HELD["first"].set()
    handlers.HELD["second"].set()
    await asyncio.sleep(0.05)
    assert disconnects() == [(4002, "leaving early")]
    # A later connection is served as usual.
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'

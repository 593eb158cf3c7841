"""The management API through the real boto3 client, and through raw HTTP for spellings."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for


async def connection_id_of(ws: Any, gateway: RunningGateway) -> str:
    """The id the gateway gave ``ws``, read from its newest $connect event."""
    await wait_for(lambda: bool(handlers.events_for("$connect")))
    return str(handlers.events_for("$connect")[-1]["requestContext"]["connectionId"])


async def test_post_delivers_a_text_frame(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        connection_id = await connection_id_of(ws, gateway)
        response = await gateway.call(
            "post_to_connection", ConnectionId=connection_id, Data=b"hello"
        )
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert await ws.recv() == "hello"
        await gateway.call("post_to_connection", ConnectionId=connection_id, Data="héllo")
        assert await ws.recv() == "héllo"


async def test_post_of_non_utf8_bytes_delivers_a_binary_frame(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        connection_id = await connection_id_of(ws, gateway)
        await gateway.call("post_to_connection", ConnectionId=connection_id, Data=b"\xff\x00")
        assert await ws.recv() == b"\xff\x00"


async def test_get_connection_reports_times_and_identity(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url(), user_agent_header="agent/9") as ws:
        connection_id = await connection_id_of(ws, gateway)
        first = await gateway.call("get_connection", ConnectionId=connection_id)
        await asyncio.sleep(0.02)
        await ws.send('{"action": "echo"}')
        await ws.recv()
        second = await gateway.call("get_connection", ConnectionId=connection_id)
    assert first["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/9"}
    assert isinstance(first["ConnectedAt"], datetime.datetime)
    connected_ms = handlers.events_for("$connect")[0]["requestContext"]["connectedAt"]
    assert int(first["ConnectedAt"].timestamp() * 1000) == connected_ms
    assert second["LastActiveAt"] > first["LastActiveAt"]
    assert second["ConnectedAt"] == first["ConnectedAt"]


async def test_delete_closes_with_1000_and_disconnect_says_so(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        connection_id = await connection_id_of(ws, gateway)
        response = await gateway.call("delete_connection", ConnectionId=connection_id)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1000
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    context = handlers.events_for("$disconnect")[0]["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (
        1000,
        "Connection Closed Normally",
    )
    assert len(handlers.events_for("$disconnect")) == 1


@pytest.mark.parametrize("method", ["post_to_connection", "get_connection", "delete_connection"])
async def test_unknown_or_closed_ids_raise_gone_exception(
    gateway: RunningGateway, method: str
) -> None:
    client = gateway.management_client()
    kwargs: dict[str, Any] = {"ConnectionId": "AAAAAAAAAAAAAAA="}
    if method == "post_to_connection":
        kwargs["Data"] = b"x"
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(getattr(client, method), **kwargs)
    async with websockets.connect(gateway.ws_url()) as ws:
        kwargs["ConnectionId"] = await connection_id_of(ws, gateway)
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(getattr(client, method), **kwargs)


async def test_payload_over_128kb_raises_payload_too_large(gateway: RunningGateway) -> None:
    client = gateway.management_client()
    async with websockets.connect(gateway.ws_url()) as ws:
        connection_id = await connection_id_of(ws, gateway)
        with pytest.raises(client.exceptions.PayloadTooLargeException):
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId=connection_id, Data=b"z" * 131073
            )
        # Exactly the limit is fine, and the connection is unharmed.
        await asyncio.to_thread(
            client.post_to_connection, ConnectionId=connection_id, Data=b"z" * 131072
        )
        assert await ws.recv() == "z" * 131072


async def test_path_spellings_and_wrong_stage(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        connection_id = await connection_id_of(ws, gateway)
        encoded = connection_id.replace("=", "%3D")
        base = f"http://127.0.0.1:{gateway.port}"
        async with aiohttp.ClientSession() as session:
            for path in (
                f"/dev/%40connections/{encoded}",
                f"/@connections/{encoded}",
                f"/%40connections/{connection_id}",
            ):
                async with session.post(base + path, data=b"spelled") as response:
                    assert response.status == 200, path
                assert await ws.recv() == "spelled"
            async with session.post(f"{base}/prod/@connections/{encoded}", data=b"x") as response:
                assert response.status == 403
                assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
            async with session.get(f"{base}/dev/@connections/{encoded}") as response:
                assert response.status == 200
                request_id = uuid.UUID(response.headers["x-amzn-RequestId"])
                assert request_id.version == 4
                body = orjson.loads(await response.read())
                assert set(body) == {"connectedAt", "identity", "lastActiveAt"}
                assert body["connectedAt"].endswith("Z")
            async with session.get(f"{base}/dev/@connections/AAAAAAAAAAAAAAA%3D") as response:
                assert response.status == 410
                assert response.headers["x-amzn-ErrorType"] == "GoneException"
                assert response.headers["Content-Type"].startswith("application/json")


async def test_handler_posts_to_itself_through_https_domain_name(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={
            "$connect": "tests.e2e.handlers:connect",
            "me": {"handler": "tests.e2e.handlers:post_self", "response": True},
            "bye": "tests.e2e.handlers:delete_self",
        }
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "me"}')
        assert await ws.recv() == 'posted:{"action": "me"}'
        assert await ws.recv() == "source:127.0.0.1"
        await ws.send('{"action": "bye"}')
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1000


async def test_boto3_without_error_type_would_not_raise_gone(gateway: RunningGateway) -> None:
    """Guards the header boto3 needs: the parsed code must be GoneException, not '410'."""
    client = gateway.management_client()
    with pytest.raises(ClientError) as info:
        await asyncio.to_thread(client.get_connection, ConnectionId="AAAAAAAAAAAAAAA=")
    assert info.value.response["Error"]["Code"] == "GoneException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


async def test_chunked_posts_are_read_whole_and_capped(gateway: RunningGateway) -> None:
    async def chunks(total: int) -> Any:
        for _ in range(total // 8192):
            yield b"c" * 8192
            await asyncio.sleep(0)

    async with websockets.connect(gateway.ws_url()) as ws:
        connection_id = await connection_id_of(ws, gateway)
        url = f"http://127.0.0.1:{gateway.port}/dev/@connections/{connection_id}"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=chunks(131072)) as response:
                assert response.status == 200
            assert await ws.recv() == "c" * 131072
            async with session.post(url, data=chunks(131072 + 8192)) as response:
                assert response.status == 413
                assert response.headers["x-amzn-ErrorType"] == "PayloadTooLargeException"


async def test_a_client_that_does_not_read_gets_limit_exceeded_not_a_hang(
    gateway: RunningGateway,
) -> None:
    # max_queue=1: websockets stops reading the socket once one message is waiting.
    async with websockets.connect(gateway.ws_url(), max_queue=1, max_size=None) as ws:
        connection_id = await connection_id_of(ws, gateway)
        url = f"http://127.0.0.1:{gateway.port}/dev/@connections/{connection_id}"
        statuses: list[int] = []
        async with aiohttp.ClientSession() as session:
            for index in range(1000):
                payload = f"{index:06d}".encode() + b"m" * 131000
                async with session.post(url, data=payload) as response:
                    statuses.append(response.status)
                    if response.status == 429:
                        assert response.headers["x-amzn-ErrorType"] == "LimitExceededException"
                        break
            assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
            # The connection is intact: everything accepted arrives, in order.
            for index in range(len(statuses) - 1):
                frame = await ws.recv()
                assert frame[:6] == f"{index:06d}"
            async with session.post(url, data=b"after") as response:
                assert response.status == 200
            assert await ws.recv() == "after"

"""The handshake in AWS order: identity sources, authorizer, $connect, all before the 101."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for


AUTHORIZER = {
    "type": "request",
    "handler": "tests.e2e.handlers:authorizer",
    "identity_source": ["route.request.querystring.token"],
}
ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")


async def refused_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kwargs):
            pass
    return int(info.value.response.status_code)


@pytest.fixture(
    params=["tests.e2e.handlers:authorizer", "tests.e2e.handlers:async_authorizer"],
    ids=["one-trip", "two-trips"],
)
async def guarded(
    gateway_factory: GatewayFactory, request: pytest.FixtureRequest
) -> RunningGateway:
    """A REQUEST authorizer and the base routes' ``def`` $connect: with a ``def`` authorizer
    both run in one trip to the handler threads (``server.onehop``), with an ``async def``
    one each takes its own path."""
    running: RunningGateway = await gateway_factory(
        authorizer={**AUTHORIZER, "handler": request.param}
    )
    assert (running.server.gateway.one_hop is not None) == (request.param.endswith(":authorizer"))
    return running


async def test_missing_identity_source_is_401_without_invoking_the_authorizer(
    guarded: RunningGateway,
) -> None:
    assert await refused_status(guarded.ws_url()) == 401
    assert await refused_status(guarded.ws_url("token=")) == 401
    assert handlers.EVENTS == []


async def test_header_identity_source_is_matched_case_insensitively(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        authorizer={**AUTHORIZER, "identity_source": ["route.request.header.Auth"]}
    )
    assert await refused_status(running.ws_url()) == 401
    assert handlers.EVENTS == []
    async with websockets.connect(running.ws_url(), additional_headers={"auth": "allow"}) as ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("unauthorized", 401),
        ("deny", 403),
        ("rest-style", 403),
        ("boom", 500),
        ("malformed", 500),
        ("nested", 500),
    ],
)
async def test_authorizer_refusals_invoke_nothing_else(
    guarded: RunningGateway, token: str, status: int
) -> None:
    assert await refused_status(guarded.ws_url(f"token={token}")) == status
    await asyncio.sleep(0.05)
    assert [e.get("type") for e in handlers.EVENTS] == ["REQUEST"]
    assert handlers.events_for("$connect") == []
    assert handlers.events_for("$disconnect") == []


async def test_allow_with_iam_wildcards_opens_the_connection(guarded: RunningGateway) -> None:
    async with websockets.connect(guarded.ws_url("token=wildcard")) as ws:
        await ws.send('{"action": "echo", "n": 1}')
        assert await ws.recv() == '{"action": "echo", "n": 1}'


async def test_authorizer_event_has_the_aws_request_shape(guarded: RunningGateway) -> None:
    async with websockets.connect(
        guarded.ws_url("token=allow&tag=a&tag=b"), user_agent_header="e2e-agent/1.0"
    ):
        pass
    event = handlers.EVENTS[0]
    assert event["type"] == "REQUEST"
    assert re.fullmatch(
        r"arn:aws:execute-api:us-east-1:123456789012:[a-z0-9]{10}/dev/\$connect",
        event["methodArn"],
    )
    assert event["queryStringParameters"] == {"token": "allow", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["allow"], "tag": ["a", "b"]}
    assert event["headers"]["Upgrade"] == "websocket"
    assert event["headers"]["User-Agent"] == "e2e-agent/1.0"
    assert event["stageVariables"] == {}
    context = event["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert "authorizer" not in context
    connect = handlers.events_for("$connect")[0]["requestContext"]
    assert connect["connectionId"] == context["connectionId"]
    assert connect["connectedAt"] == context["connectedAt"]


async def test_authorizer_event_without_query_string_has_empty_maps(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        authorizer={**AUTHORIZER, "identity_source": ["route.request.header.Auth"]}
    )
    async with websockets.connect(running.ws_url(), additional_headers={"Auth": "allow"}):
        pass
    event = handlers.EVENTS[0]
    assert event["queryStringParameters"] == {}
    assert event["multiValueQueryStringParameters"] == {}


async def test_authorizer_context_reaches_every_event_of_the_connection(
    guarded: RunningGateway,
) -> None:
    async with websockets.connect(guarded.ws_url("token=allow")) as ws:
        await ws.send('{"action": "echo"}')
        await ws.recv()
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    events = [
        handlers.events_for("$connect")[0],
        handlers.events_for("echo")[0],
        handlers.events_for("$disconnect")[0],
    ]
    for event in events:
        authorizer = event["requestContext"]["authorizer"]
        assert authorizer["principalId"] == "user-123"
        assert isinstance(authorizer["integrationLatency"], int)
        assert (authorizer["tenant"], authorizer["level"], authorizer["admin"]) == (
            "acme",
            "3",
            "true",
        )


@pytest.mark.parametrize("status", [301, 400, 401, 404, 501])
async def test_connect_status_is_the_handshake_status(gateway: RunningGateway, status: int) -> None:
    assert await refused_status(gateway.ws_url(f"status={status}")) == status
    await asyncio.sleep(0.05)
    assert handlers.events_for("$disconnect") == []


async def test_connect_2xx_or_none_upgrades(gateway: RunningGateway) -> None:
    for query in ("status=201", "none=1"):
        async with websockets.connect(gateway.ws_url(query)) as ws:
            await ws.send('{"action": "echo"}')
            assert await ws.recv() == '{"action": "echo"}'


async def test_connect_exception_is_502_and_never_disconnects(gateway: RunningGateway) -> None:
    assert await refused_status(gateway.ws_url("raise=1")) == 502
    await asyncio.sleep(0.05)
    assert handlers.events_for("$disconnect") == []


async def test_connect_timeout_is_504(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        routes={"$connect": {"handler": "tests.e2e.handlers:slow", "timeout": 0.2}}
    )
    assert await refused_status(running.ws_url()) == 504


async def test_only_the_subprotocol_header_reaches_the_client(gateway: RunningGateway) -> None:
    async with websockets.connect(
        gateway.ws_url("proto=chat.v2"),
        subprotocols=[Subprotocol("chat.v1"), Subprotocol("chat.v2")],
    ) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.response is not None
        assert "X-Other" not in ws.response.headers


async def test_subprotocols_offered_on_several_lines_are_all_offered(
    gateway: RunningGateway,
) -> None:
    """Sec-WebSocket-Protocol is a list field (RFC 6455 §11.3.4): offers sent on two
    lines are one list, so $connect may pick from the first line too."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(
            b"GET /dev?proto=chat.v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat.v1\r\n"
            b"Sec-WebSocket-Protocol: chat.v2\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nSec-WebSocket-Protocol: chat.v1\r\n" in head


async def test_connect_event_shape_without_query(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url(), user_agent_header="agent/2"):
        pass
    event = handlers.events_for("$connect")[0]
    assert set(event) == {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"}
    assert event["isBase64Encoded"] is False
    headers = event["headers"]
    assert "Connection" not in headers and "Upgrade" not in headers
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Port"] == str(gateway.port)
    assert headers["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert event["multiValueHeaders"]["User-Agent"] == ["agent/2"]
    context = event["requestContext"]
    assert ID.match(context["connectionId"]) and ID.match(context["requestId"])
    assert context["extendedRequestId"] == context["requestId"]
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "agent/2"}
    assert context["stage"] == "dev"
    assert context["domainName"] == f"localhost:{gateway.server.tls_port}"
    assert context["messageDirection"] == "IN"
    assert isinstance(context["connectedAt"], int) and context["connectedAt"] > 1.7e12
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["requestTime"])


async def test_connect_event_with_query_has_both_maps(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url("name=bob&tag=a&tag=b")):
        pass
    event = handlers.events_for("$connect")[0]
    assert event["queryStringParameters"] == {"name": "bob", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"name": ["bob"], "tag": ["a", "b"]}


async def test_post_to_connection_during_connect_is_gone(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url("post-self=1")) as ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


async def test_plain_http_get_is_426_and_wrong_stage_is_403(gateway: RunningGateway) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gateway.port}/dev") as response:
            assert response.status == 426
    assert await refused_status(f"ws://127.0.0.1:{gateway.port}/prod") == 403


async def test_connection_cap_answers_429(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(api={"max_connections": 2})
    async with websockets.connect(running.ws_url()), websockets.connect(running.ws_url()):
        assert await refused_status(running.ws_url()) == 429
    await wait_for(lambda: len(handlers.events_for("$disconnect")) == 2)
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


async def test_a_client_leaving_during_connect_costs_nothing(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    running = await gateway_factory(
        routes={
            "$connect": "tests.e2e.handlers:slow_connect",
            "$disconnect": "tests.e2e.handlers:disconnect",
        }
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(
        b"GET /dev HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    await wait_for(lambda: bool(handlers.events_for("$connect")))
    writer.transport.abort()
    await asyncio.sleep(0.5)
    assert handlers.events_for("$disconnect") == []
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    async with websockets.connect(running.ws_url()) as ws:
        assert ws.protocol.state.name == "OPEN"


@pytest.mark.parametrize(("target", "maps"), [(b"/dev?", {}), (b"/dev", None)])
async def test_a_bare_question_mark_gives_empty_query_maps(
    gateway: RunningGateway, target: bytes, maps: dict[str, object] | None
) -> None:
    """AWS puts empty query maps in $connect for `?` with nothing after it, none without."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    await wait_for(lambda: bool(handlers.events_for("$connect")))
    event = handlers.events_for("$connect")[0]
    assert event.get("queryStringParameters") == maps
    assert event.get("multiValueQueryStringParameters") == maps
    writer.transport.abort()


async def test_a_colliding_connection_id_is_refused_500_before_the_upgrade(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are random, so a collision is all but impossible; should one happen, the second
    handshake is refused before its 101 and the first connection is untouched."""
    registry = gateway.server.gateway.registry  # it makes the ids
    monkeypatch.setattr(registry, "new_connection_id", lambda: "U2FtZUlkVHdpY2U=")
    async with websockets.connect(gateway.ws_url()) as first:
        assert await refused_status(gateway.ws_url()) == 500
        await first.send('{"action": "echo"}')
        assert await first.recv() == '{"action": "echo"}'


async def test_a_fault_of_the_gateway_in_a_handshake_is_a_500_never_a_hang(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong inside the handshake, the client gets an answer and a close."""

    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    running = await gateway_factory()
    # A part of the gateway the handshake calls, failing as a bug would.
    monkeypatch.setattr(running.server.gateway.registry, "reserve", broken)
    with pytest.raises(InvalidStatus) as info:
        await asyncio.wait_for(websockets.connect(running.ws_url()), 5)
    assert info.value.response.status_code == 500

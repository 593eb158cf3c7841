"""Route selection, replies, handler failures and limits on an open connection."""

from __future__ import annotations

import asyncio
import re
import time

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for


ID = r"[A-Za-z0-9_-]{15}="


async def test_text_frame_goes_to_the_selected_route(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.send('{"action": "echo", "text": "hi"}')
        assert await ws.recv() == '{"action": "echo", "text": "hi"}'
    assert len(handlers.events_for("echo")) == 1
    assert handlers.events_for("$default") == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"action": "nosuchroute"}',
        '{"other": 1}',
        "[1, 2]",
        '"echo"',
        "42",
        '{"action": "$connect"}',
        '{"action": "$disconnect"}',
        "",
    ],
)
async def test_anything_unmatched_goes_to_default(gateway: RunningGateway, body: str) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.send(body)
        assert await ws.recv() == "default:" + body
    assert len(handlers.events_for("$connect")) == 1


async def test_no_default_route_sends_the_forbidden_frame(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        routes={"echo": {"handler": "tests.e2e.handlers:echo", "response": True}}
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "unknown"}')
        frame = await ws.recv()
        assert isinstance(frame, str)
        assert re.fullmatch(
            '\\{"message": "Forbidden", "connectionId":"' + ID + '", "requestId":"' + ID + '"\\}',
            frame,
        )
        # The connection stays open.
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


async def test_nested_and_braced_selection_expressions(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        api={"route_selection_expression": "${request.body.svc}/${request.body.op.name}"},
        routes={
            "chat/join": {"handler": "tests.e2e.handlers:echo", "response": True},
            "$default": {"handler": "tests.e2e.handlers:default", "response": True},
        },
    )
    async with websockets.connect(running.ws_url()) as ws:
        body = '{"svc": "chat", "op": {"name": "join"}}'
        await ws.send(body)
        assert await ws.recv() == body
        await ws.send('{"svc": "chat"}')
        assert await ws.recv() == 'default:{"svc": "chat"}'


async def test_message_event_has_the_aws_message_shape(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url(), user_agent_header="agent/3") as ws:
        await ws.send('{"action": "echo"}')
        await ws.recv()
        await ws.send('{"action": "echo"}')
        await ws.recv()
    first, second = handlers.events_for("echo")
    assert set(first) == {"requestContext", "body", "isBase64Encoded"}
    assert first["body"] == '{"action": "echo"}'
    context = first["requestContext"]
    assert context["routeKey"] == "echo"
    assert context["eventType"] == "MESSAGE"
    assert re.fullmatch(ID, context["messageId"])
    assert context["extendedRequestId"] == context["requestId"]
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "agent/3"}
    connect = handlers.events_for("$connect")[0]["requestContext"]
    assert context["connectionId"] == connect["connectionId"]
    assert context["connectedAt"] == connect["connectedAt"]
    assert context["requestTimeEpoch"] >= context["connectedAt"]
    assert context["messageId"] != second["requestContext"]["messageId"]
    assert context["requestId"] != second["requestContext"]["requestId"]


async def test_handler_exception_sends_internal_server_error_and_keeps_the_connection(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={
            "boom": "tests.e2e.handlers:boom",
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        }
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "boom"}')
        frame = await ws.recv()
        assert isinstance(frame, str)
        assert re.fullmatch(
            '\\{"message": "Internal server error", "connectionId":"'
            + ID
            + '", "requestId":"'
            + ID
            + '"\\}',
            frame,
        )
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


async def test_handler_past_its_timeout_sends_endpoint_request_timed_out(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={
            "slow": {"handler": "tests.e2e.handlers:slow", "timeout": 0.2, "response": True},
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        }
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "slow"}')
        frame = orjson.loads(await ws.recv())
        assert frame["message"] == "Endpoint request timed out"
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


async def test_one_way_routes_discard_the_return_value(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        routes={
            "quiet": "tests.e2e.handlers:one_way",
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        }
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "quiet"}')
        await ws.send('{"action": "echo"}')
        # Only the echo's reply arrives; the one-way route's body was dropped.
        assert await ws.recv() == '{"action": "echo"}'
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
    assert len(handlers.events_for("quiet")) == 1


async def test_two_way_route_sends_a_plain_string_as_is(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        routes={"$default": {"handler": "tests.e2e.handlers:plain_string", "response": True}}
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send("anything")
        assert await ws.recv() == "plain reply"


async def test_a_handler_using_asyncio_timeout_leaves_its_connection_alone(
    gateway_factory: GatewayFactory,
) -> None:
    """asyncio.timeout cancels the task it was entered in: that must be the handler's own."""
    running = await gateway_factory(
        routes={
            "inner": {"handler": "tests.e2e.handlers:own_timeout", "response": True},
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        }
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "inner"}')
        assert await ws.recv() == "timed out inside, same task: True"
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'


@pytest.mark.parametrize(
    ("handler", "reply"),
    [
        ("zero_timeout", "timed out at once, same task: True"),
        ("failing_group", "group failed: ['ValueError'], same task: True"),
    ],
)
async def test_a_cancellation_before_the_handler_first_waits_is_the_handlers(
    gateway_factory: GatewayFactory, handler: str, reply: str
) -> None:
    """asyncio.timeout(0) and a TaskGroup whose child fails at once cancel the task the
    handler began in before that task runs again: the handler gets the cancellation, the
    connection reads on."""
    running = await gateway_factory(
        routes={
            "inner": {"handler": f"tests.e2e.handlers:{handler}", "response": True},
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        }
    )
    async with websockets.connect(running.ws_url()) as ws:
        for _ in range(3):
            await ws.send('{"action": "inner"}')
            assert await asyncio.wait_for(ws.recv(), 2) == reply
            await ws.send('{"action": "echo"}')
            assert await ws.recv() == '{"action": "echo"}'


async def test_sync_handler_runs_and_blocking_never_delays_other_connections(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={
            "block": {"handler": "tests.e2e.handlers:blocking", "response": True},
            "sync": {"handler": "tests.e2e.handlers:sync_echo", "response": True},
        }
    )
    async with (
        websockets.connect(running.ws_url()) as blocked,
        websockets.connect(running.ws_url()) as free,
    ):
        await blocked.send('{"action": "block"}')
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await free.send('{"action": "sync"}')
        assert await free.recv() == 'sync:{"action": "sync"}'
        # Answered while the other handler still holds its thread (it sleeps 1 s).
        assert time.monotonic() - started < 0.9
        assert await blocked.recv() == "blocked"


async def test_handler_gets_a_lambda_context_and_the_environment(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={"ctx": {"handler": "tests.e2e.handlers:context_info", "response": True}},
        handlers={"environment": {"WSGATE_TEST_ENV": "from-config"}},
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "ctx"}')
        info = orjson.loads(await ws.recv())
    assert info["aws_request_id"] == info["request_id"]
    assert 0 < info["remaining"] <= 29000
    assert info["function_name"] == "tests-e2e-handlers-context_info"
    assert info["arn"].startswith("arn:aws:lambda:us-east-1:123456789012:function:")
    assert (info["memory"], info["version"]) == (128, "$LATEST")
    assert info["env"] == "from-config"


async def test_binary_frame_closes_with_1003(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1003
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    context = handlers.events_for("$disconnect")[0]["requestContext"]
    assert context["disconnectStatusCode"] == 1003


async def test_message_over_the_limit_closes_with_1009(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(api={"max_message_bytes": 4096, "max_frame_bytes": 1024})
    async with websockets.connect(running.ws_url()) as ws:
        # Fragments under the frame limit adding up to more than the message limit.
        await ws.send(["x" * 1000 for _ in range(5)])
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    context = handlers.events_for("$disconnect")[0]["requestContext"]
    assert context["disconnectStatusCode"] == 1009


async def test_frame_over_32kb_closes_with_1009_but_fragments_pass(
    gateway: RunningGateway,
) -> None:
    body = '{"action": "echo", "pad": "' + "y" * 60_000 + '"}'
    async with websockets.connect(gateway.ws_url()) as ws:
        chunks = [body[i : i + 30_000] for i in range(0, len(body), 30_000)]
        await ws.send(chunks)
        assert await ws.recv() == body
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.send(body)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009
    # The connection that did nothing wrong was not affected, and both got $disconnect.
    await wait_for(lambda: len(handlers.events_for("$disconnect")) == 2)
    assert [
        e["requestContext"]["disconnectStatusCode"] for e in handlers.events_for("$disconnect")
    ] == [1000, 1009]

"""What an operator scrapes and reads, over real sockets: ``/metrics`` and ``/health`` on
the admin listener, and the access log's lines."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import handlers
from tests.e2e.conftest import BASE_ROUTES, GatewayFactory, RunningGateway, wait_for
from wsgate.server.observe.access_log import LOGGER_NAME


ROUTES: dict[str, Any] = {
    **BASE_ROUTES,
    "boom": {"handler": "tests.e2e.handlers:boom", "response": True},
    "failing": {"handler": "tests.e2e.test_observability:failing_status", "response": True},
}
ADMIN = {"listen": "127.0.0.1:0"}


async def failing_status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler answering a 4XX of its own: an IntegrationError, not an ExecutionError."""
    return {"statusCode": 404, "body": "not here"}


async def slow_disconnect(event: dict[str, Any], context: Any) -> None:
    """Holds the drain long enough for /health to be read during it."""
    handlers.record(event)
    await asyncio.sleep(1.0)


@pytest.fixture
def observed(gateway_factory: GatewayFactory) -> GatewayFactory:
    """``gateway_factory`` with the ``admin`` section first."""

    async def start(admin: dict[str, Any], **kwargs: Any) -> RunningGateway:
        running: RunningGateway = await gateway_factory(admin=admin, **kwargs)
        return running

    return start


def _admin_url(gateway: RunningGateway, path: str) -> str:
    return f"http://127.0.0.1:{gateway.server.admin_port}{path}"


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def _scrape(gateway: RunningGateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, text = await _get(_admin_url(gateway, "/metrics"))
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _connection_id() -> str:
    connects = handlers.events_for("$connect")
    assert connects
    return str(connects[-1]["requestContext"]["connectionId"])


async def test_metrics_count_a_connection_s_life(observed: GatewayFactory) -> None:
    gateway = await observed(routes=ROUTES, admin=ADMIN)
    assert gateway.server.admin_port is not None
    messages = ['{"action": "echo", "n": 1}', '{"action": "other"}', '{"action": "boom"}']
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.send(messages[0])
        await ws.recv()
        await ws.send(messages[1])  # $default
        await ws.recv()
        await ws.send(messages[2])
        assert "Internal server error" in str(await ws.recv())
        await ws.send('{"action": "failing"}')
        await ws.recv()
        await gateway.call("post_to_connection", ConnectionId=_connection_id(), Data=b"pushed")
        assert await ws.recv() == "pushed"
        during = await _scrape(gateway)
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    await asyncio.sleep(0.05)  # $disconnect's answer is observed once it returned
    after = await _scrape(gateway)

    assert _value(during, "wsgate_connections_open", stage="dev") == 1
    assert _value(after, "wsgate_connections_open", stage="dev") == 0
    dev = {"stage": "dev"}
    assert _value(after, "ConnectCount_total", **dev, route="$connect") == 1
    # A two-way route counts the message in and its reply out.
    assert _value(after, "MessageCount_total", **dev, route="echo") == 2
    assert _value(after, "MessageCount_total", **dev, route="$default") == 2
    assert _value(after, "MessageCount_total", **dev, route="boom") == 1
    assert _value(after, "MessageCount_total", **dev, route="@connections") == 1
    assert _value(after, "ExecutionError_total", **dev, route="boom") == 1
    assert _value(after, "ExecutionError_total", **dev, route="echo") == 0
    assert _value(after, "IntegrationError_total", **dev, route="failing") == 1
    assert _value(after, "ClientError_total", **dev, route="-") == 0
    for route in ("echo", "$default", "boom", "$connect", "$disconnect"):
        assert _value(after, "IntegrationLatency_count", **dev, route=route) == 1, route
    assert _value(after, "wsgate_handshakes_total", **dev, status="101") == 1
    assert _value(after, "wsgate_management_calls_total", **dev, method="POST", status="200") == 1
    received = sum(len(m) for m in messages) + len('{"action": "failing"}')
    assert _value(after, "wsgate_message_bytes_total", **dev, direction="in") == received
    assert _value(after, "wsgate_message_bytes_total", **dev, direction="out") > len("pushed")
    assert _value(after, "wsgate_handler_threads_max", pool="messages") > 0
    assert ("wsgate_handler_queue", frozenset({("pool", "handshake")})) in after


async def test_refusals_and_unrouted_messages_are_client_errors(
    observed: GatewayFactory,
) -> None:
    routes = {"$connect": "tests.e2e.handlers:connect", "echo": BASE_ROUTES["echo"]}
    gateway = await observed(
        routes=routes, admin=ADMIN, authorizer={"handler": "tests.e2e.handlers:authorizer"}
    )
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(gateway.ws_url("token=deny")):
            pass
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(gateway.ws_url("token=allow&status=404")):
            pass
    async with websockets.connect(gateway.ws_url("token=allow")) as ws:
        await ws.send('{"action": "nosuchroute"}')
        assert "Forbidden" in str(await ws.recv())
    samples = await _scrape(gateway)
    dev = {"stage": "dev"}
    assert _value(samples, "ClientError_total", **dev, route="$connect") == 1
    assert _value(samples, "ClientError_total", **dev, route="-") == 1
    assert _value(samples, "MessageCount_total", **dev, route="-") == 1
    # Two handshakes reached $connect; one was refused by it.
    assert _value(samples, "ConnectCount_total", **dev, route="$connect") == 2
    assert _value(samples, "IntegrationError_total", **dev, route="$connect") == 1
    assert _value(samples, "wsgate_handshakes_total", **dev, status="403") == 1
    assert _value(samples, "wsgate_handshakes_total", **dev, status="404") == 1
    assert _value(samples, "wsgate_handshakes_total", **dev, status="101") == 1


async def test_handshakes_refused_before_the_authorizer_are_counted_by_status(
    observed: GatewayFactory,
) -> None:
    """Refusals no route saw (a wrong stage, a malformed upgrade, the per-address cap)
    still show in ``wsgate_handshakes_total``."""
    gateway = await observed(admin=ADMIN, server={"max_connections_per_ip": 1})
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"ws://127.0.0.1:{gateway.port}/prod"):
            pass
    async with aiohttp.ClientSession() as session:
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8"}
        headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        async with session.get(gateway.ws_url().replace("ws:", "http:"), headers=headers) as r:
            assert r.status == 400
    async with websockets.connect(gateway.ws_url()):
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(gateway.ws_url()):
                pass
    samples = await _scrape(gateway)
    dev = {"stage": "dev"}
    assert _value(samples, "wsgate_handshakes_total", **dev, status="403") == 1
    assert _value(samples, "wsgate_handshakes_total", **dev, status="400") == 1
    assert _value(samples, "wsgate_handshakes_total", **dev, status="429") == 1
    assert _value(samples, "wsgate_handshakes_total", **dev, status="101") == 1
    assert _value(samples, "ConnectCount_total", **dev, route="$connect") == 1


async def test_metrics_are_not_served_on_the_public_port(
    observed: GatewayFactory,
) -> None:
    gateway = await observed(admin=ADMIN)
    status, text = await _get(f"http://127.0.0.1:{gateway.port}/metrics")
    assert status != 200 and "ConnectCount" not in text
    status, _text = await _get(f"http://127.0.0.1:{gateway.port}/health")
    assert status != 200


async def test_no_admin_listener_by_default(gateway: RunningGateway) -> None:
    assert gateway.server.admin_port is None
    assert gateway.server.gateway.dispatcher.observer is None


async def test_health_turns_503_while_draining(observed: GatewayFactory) -> None:
    routes = {**BASE_ROUTES, "$disconnect": "tests.e2e.test_observability:slow_disconnect"}
    gateway = await observed(routes=routes, admin=ADMIN)
    health = _admin_url(gateway, "/health")
    status, text = await _get(health)
    assert (status, orjson.loads(text)) == (200, {"status": "serving"})
    async with websockets.connect(gateway.ws_url()) as ws:
        stopping = asyncio.create_task(gateway.server.stop())
        await wait_for(lambda: bool(handlers.events_for("$disconnect")))
        status, text = await _get(health)
        assert (status, orjson.loads(text)) == (503, {"status": "draining"})
        await stopping
        assert ws.close_code == 1001
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(health)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    logger = logging.getLogger(LOGGER_NAME)
    handler = _Lines()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_access_log_lines(observed: GatewayFactory, access_lines: list[str]) -> None:
    routes = {key: BASE_ROUTES[key] for key in ("$connect", "$disconnect", "echo")}
    gateway = await observed(routes=routes, admin={"access_log": True})
    async with websockets.connect(gateway.ws_url(), user_agent_header="obs-test") as ws:
        await ws.send('{"action": "echo"}')
        await ws.recv()
        await ws.send('{"action": "nosuchroute"}')
        await ws.recv()
        connection_id = _connection_id()
        await gateway.call("post_to_connection", ConnectionId=connection_id, Data=b"x")
        await ws.recv()
    await wait_for(lambda: len(access_lines) >= 5)
    lines = [orjson.loads(line) for line in access_lines]
    by_type = {(line["eventType"], line["routeKey"]): line for line in lines}
    assert len(lines) == 5, lines
    connect = by_type["CONNECT", "$connect"]
    echo = by_type["MESSAGE", "echo"]
    forbidden = by_type["MESSAGE", "-"]
    post = by_type["MANAGEMENT", "POST /@connections/{connectionId}"]
    disconnect = by_type["DISCONNECT", "$disconnect"]
    for line in (connect, echo, forbidden, disconnect):
        assert line["connectionId"] == connection_id
        assert line["identity.sourceIp"] == "127.0.0.1"
        assert line["identity.userAgent"] == "obs-test"
        assert line["stage"] == "dev"
        assert isinstance(line["requestTimeEpoch"], int)
        assert isinstance(line["integrationLatency"], int)
        assert len(line["requestId"]) == 16
        assert line["requestTime"].endswith(" +0000")
    assert (connect["status"], echo["status"], forbidden["status"]) == (200, 200, 403)
    assert (echo["error.message"], forbidden["error.message"]) == (None, "Forbidden")
    assert disconnect["status"] == 200 and disconnect["disconnectStatusCode"] == 1000
    assert post["status"] == 200 and post["connectionId"] == connection_id
    # The request id the management API answered with, as boto3 saw it.
    assert len(post["requestId"]) == 36

"""Throttles over real sockets: a route over its bucket answers AWS's 429 frame and keeps
the connection; ``$connect`` over its bucket answers 429 before the authorizer runs."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import handlers
from tests.e2e.conftest import BASE_ROUTES, GatewayFactory, wait_for


def _authorizer_calls() -> int:
    with handlers._lock:
        return sum(1 for event in handlers.EVENTS if event.get("type") == "REQUEST")


async def test_a_route_over_its_throttle_gets_the_429_frame_and_the_connection_stays(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        api={"throttle": {"rate": 1000, "burst": 1000}},
        routes={
            **BASE_ROUTES,
            # No refill: exactly two messages pass, whatever the machine's speed.
            "limited": {
                "handler": "tests.e2e.handlers:echo",
                "response": True,
                "throttle": {"rate": 0, "burst": 2},
            },
        },
        admin={"listen": "127.0.0.1:0"},
    )
    async with websockets.connect(running.ws_url()) as ws:
        replies = []
        for n in range(4):
            await ws.send(json.dumps({"action": "limited", "n": n}))
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert [reply.get("n") for reply in replies[:2]] == [0, 1]
        connection_id = handlers.events_for("$connect")[0]["requestContext"]["connectionId"]
        for reply in replies[2:]:
            assert reply["message"] == "Too Many Requests"
            assert reply["connectionId"] == connection_id
            assert reply["requestId"]
        assert len(handlers.events_for("limited")) == 2  # the handler never saw the others
        # Other routes have buckets of their own: the connection carries on.
        await ws.send('{"action": "echo", "still": "open"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {
            "action": "echo",
            "still": "open",
        }
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{running.server.admin_port}/metrics") as response,
    ):
        text = await response.text()
    samples = {
        (sample.name, sample.labels.get("route")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("ClientError_total", "limited")] == 2
    assert samples[("MessageCount_total", "limited")] == 6  # four in, two replies out


async def test_a_burst_of_zero_switches_a_route_off(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        routes={
            "$default": {
                "handler": "tests.e2e.handlers:default",
                "response": True,
                "throttle": {"burst": 0},
            },
        },
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send("anything")
        assert json.loads(await ws.recv())["message"] == "Too Many Requests"
    assert handlers.events_for("$default") == []


async def test_connect_over_its_throttle_is_refused_before_the_authorizer(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={
            "$connect": {"handler": "tests.e2e.handlers:connect", "throttle": {"rate": 0}},
            "$disconnect": "tests.e2e.handlers:disconnect",
        },
        api={"throttle": {"burst": 2}},
        authorizer={
            "handler": "tests.e2e.handlers:authorizer",
            "identity_source": ["route.request.querystring.token"],
        },
    )
    for _ in range(2):
        async with websockets.connect(running.ws_url("token=allow")):
            pass
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(running.ws_url("token=allow")):
            pass
    assert refused.value.response.status_code == 429
    assert _authorizer_calls() == 2
    assert len(handlers.events_for("$connect")) == 2
    # $disconnect is never throttled: both connections got theirs.
    await wait_for(lambda: len(handlers.events_for("$disconnect")) == 2)


async def test_the_stage_throttle_covers_connect_without_a_connect_route(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        routes={"echo": BASE_ROUTES["echo"]}, api={"throttle": {"rate": 0, "burst": 1}}
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "echo"}')
        assert json.loads(await ws.recv()) == {"action": "echo"}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(running.ws_url()):
            pass
    assert refused.value.response.status_code == 429

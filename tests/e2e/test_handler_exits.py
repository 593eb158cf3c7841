"""A handler that calls sys.exit (or raises KeyboardInterrupt) fails its own invocation:
the gateway and every other connection carry on, and ``$disconnect`` still runs once."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, wait_for


ROUTES = {
    "$connect": "tests.e2e.handlers:connect",
    "$disconnect": "tests.e2e.handlers:disconnect",
    "exit": "tests.e2e.handlers:exits",
    "async_exit": "tests.e2e.handlers:async_exits",
    "interrupt": "tests.e2e.handlers:interrupts",
    "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
}


@pytest.mark.parametrize(
    "message",
    [
        {"action": "exit"},
        {"action": "async_exit"},
        {"action": "async_exit", "wait": True},
        {"action": "interrupt"},
    ],
    ids=["def", "async", "async-after-a-wait", "keyboard-interrupt"],
)
async def test_a_handler_ending_the_process_fails_only_its_message(
    gateway_factory: GatewayFactory, message: dict[str, object]
) -> None:
    running = await gateway_factory(routes=ROUTES)
    async with (
        websockets.connect(running.ws_url()) as caller,
        websockets.connect(running.ws_url()) as bystander,
    ):
        await caller.send(orjson.dumps(message).decode())
        failure = orjson.loads(await asyncio.wait_for(caller.recv(), 5))
        assert failure["message"] == "Internal server error"
        # The caller's connection and the other one both still work.
        for ws in (caller, bystander):
            await ws.send('{"action": "echo"}')
            assert await asyncio.wait_for(ws.recv(), 5) == '{"action": "echo"}'
    await wait_for(lambda: len(handlers.events_for("$disconnect")) == 2)
    await asyncio.sleep(0.05)
    assert len(handlers.events_for("$disconnect")) == 2
    # The gateway still accepts connections.
    async with websockets.connect(running.ws_url()) as later:
        await later.send('{"action": "echo"}')
        assert await asyncio.wait_for(later.recv(), 5) == '{"action": "echo"}'

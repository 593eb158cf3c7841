"""One client cannot hold up the others: slow message handlers of one connection leave
threads for other connections' messages and never delay a handshake."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import websockets

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, wait_for


@pytest.fixture
def gate() -> Iterator[None]:
    handlers.GATE.clear()
    yield
    handlers.GATE.set()  # let every blocked thread go, whatever the test did


async def test_slow_handlers_of_one_connection_leave_room_for_the_others(
    gateway_factory: GatewayFactory, gate: None
) -> None:
    running = await gateway_factory(
        routes={
            "$connect": "tests.e2e.handlers:connect_thread",
            "$disconnect": "tests.e2e.handlers:disconnect",
            "slow": "tests.e2e.handlers:gated_message",
            "echo": {"handler": "tests.e2e.handlers:sync_echo_thread", "response": True},
        },
        authorizer={
            "handler": "tests.e2e.handlers:authorizer_thread",
            "identity_source": ["route.request.querystring.token"],
        },
        handlers={"max_threads": 4, "handshake_threads": 2, "max_in_flight": 2},
    )
    async with websockets.connect(running.ws_url("token=allow")) as flooder:
        for _ in range(20):
            await flooder.send('{"action": "slow"}')
        # Two of them hold two of the four message threads; the rest wait unread.
        await wait_for(lambda: len(handlers.events_for("slow")) == 2)
        # Meanwhile another client connects (authorizer and $connect on their own
        # threads) and its messages find threads free.
        async with websockets.connect(running.ws_url("token=allow")) as other:
            for n in range(3):
                await other.send(f'{{"action": "echo", "n": {n}}}')
                assert await asyncio.wait_for(other.recv(), 5) == f'{{"action": "echo", "n": {n}}}'
        assert len(handlers.events_for("slow")) == 2
        handlers.GATE.set()
        await wait_for(lambda: len(handlers.events_for("slow")) == 20)


async def test_a_handshake_never_waits_behind_message_handlers(
    gateway_factory: GatewayFactory, gate: None
) -> None:
    """Even with every message thread taken, the authorizer and $connect (plain def
    handlers) run on threads of their own, and so does $disconnect."""
    running = await gateway_factory(
        routes={
            "$connect": "tests.e2e.handlers:connect_thread",
            "$disconnect": "tests.e2e.handlers:disconnect_thread",
            "slow": "tests.e2e.handlers:gated_message",
        },
        authorizer={
            "handler": "tests.e2e.handlers:authorizer_thread",
            "identity_source": ["route.request.querystring.token"],
        },
        handlers={"max_threads": 2, "handshake_threads": 2, "max_in_flight": 64},
    )
    async with websockets.connect(running.ws_url("token=allow")) as flooder:
        for _ in range(10):
            await flooder.send('{"action": "slow"}')
        await wait_for(lambda: len(handlers.events_for("slow")) == 2)
        async with websockets.connect(running.ws_url("token=allow")):
            pass
        await wait_for(lambda: len(handlers.events_for("$disconnect")) == 1)
        assert len(handlers.events_for("slow")) == 2

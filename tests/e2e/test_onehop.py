"""A ``def`` authorizer and a ``def`` $connect run in one trip to the handler threads, with
each handler's own timeout and the same answers as the usual path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e import handlers
from tests.e2e.conftest import BASE_ROUTES, GatewayFactory


def authorizer(handler: str, timeout: float = 10) -> dict[str, Any]:
    return {
        "type": "request",
        "handler": f"tests.e2e.handlers:{handler}",
        "identity_source": ["route.request.querystring.token"],
        "timeout": timeout,
    }


@pytest.fixture(autouse=True)
def _fresh_handlers() -> Iterator[None]:
    handlers.THREADS.clear()
    handlers.GATE.clear()
    yield
    handlers.GATE.set()  # never leave a handler thread blocked


async def status_of(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, open_timeout=5):
            pass
    return int(info.value.response.status_code)


async def test_both_handlers_of_a_handshake_run_in_the_same_thread_call(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        authorizer=authorizer("authorizer_thread"),
        routes={**BASE_ROUTES, "$connect": "tests.e2e.handlers:connect_thread"},
    )
    assert running.server.gateway.one_hop is not None
    for _ in range(3):
        async with websockets.connect(running.ws_url("token=allow")) as ws:
            await ws.send('{"action": "echo"}')
            assert await ws.recv() == '{"action": "echo"}'
    assert [name for name, _ in handlers.THREADS] == ["authorizer", "$connect"] * 3
    pairs = zip(handlers.THREADS[::2], handlers.THREADS[1::2], strict=True)
    assert all(auth[1] == conn[1] for auth, conn in pairs)


async def test_an_async_handler_on_either_side_keeps_the_usual_path(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(
        authorizer=authorizer("authorizer_thread"),
        routes={**BASE_ROUTES, "$connect": "tests.e2e.handlers:slow_connect"},
    )
    assert running.server.gateway.one_hop is None
    async with websockets.connect(running.ws_url("token=allow")):
        pass
    assert [name for name, _ in handlers.THREADS] == ["authorizer"]


async def test_a_late_authorizer_is_500_before_it_returns_and_connect_never_runs(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(authorizer=authorizer("gated_authorizer", timeout=0.2))
    assert running.server.gateway.one_hop is not None
    # The gate is still shut: the answer cannot have waited for the authorizer.
    assert await status_of(running.ws_url("token=allow")) == 500
    assert not handlers.GATE.is_set()
    handlers.GATE.set()  # the authorizer now returns Allow, to nobody
    await asyncio.sleep(0.2)
    assert [e.get("type") for e in handlers.EVENTS] == ["REQUEST"]
    assert handlers.events_for("$connect") == []


async def test_a_late_connect_is_504_before_it_returns(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(
        authorizer=authorizer("authorizer"),
        routes={
            **BASE_ROUTES,
            "$connect": {"handler": "tests.e2e.handlers:gated_connect", "timeout": 0.2},
        },
    )
    assert running.server.gateway.one_hop is not None
    assert await status_of(running.ws_url("token=allow")) == 504
    assert not handlers.GATE.is_set()
    handlers.GATE.set()
    await asyncio.sleep(0.1)
    assert len(handlers.events_for("$connect")) == 1
    assert handlers.events_for("$disconnect") == []


async def test_a_slow_authorizer_within_its_timeout_leaves_connect_its_own(
    gateway_factory: GatewayFactory,
) -> None:
    """$connect's timeout counts from when it began, not from the handshake's start."""
    running = await gateway_factory(
        authorizer=authorizer("gated_authorizer", timeout=5),
        routes={**BASE_ROUTES, "$connect": {"handler": "tests.e2e.handlers:connect"}},
    )

    async def open_() -> websockets.ClientConnection:
        return await websockets.connect(running.ws_url("token=allow"), open_timeout=5)

    connecting = asyncio.create_task(open_())
    await asyncio.sleep(0.3)  # the authorizer is still waiting on the gate
    assert not connecting.done()
    handlers.GATE.set()
    ws = await connecting
    await ws.close()
    assert len(handlers.events_for("$connect")) == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [("token=allow&raise=1", 502), ("token=allow&status=403", 403), ("token=deny", 403)],
)
async def test_connect_failures_and_refusals_answer_as_on_the_usual_path(
    gateway_factory: GatewayFactory, query: str, status: int
) -> None:
    running = await gateway_factory(authorizer=authorizer("authorizer"))
    assert running.server.gateway.one_hop is not None
    assert await status_of(running.ws_url(query)) == status
    await asyncio.sleep(0.05)
    assert handlers.events_for("$disconnect") == []

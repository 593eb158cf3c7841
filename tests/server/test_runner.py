"""The listeners: their backlog, and their closing first when the gateway stops."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.server import runner_handlers
from wsgate.config.model import GatewayConfig, ServerSettings
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


ROOT = Path(__file__).parent.parent.parent

Start = Callable[..., Any]


@pytest.fixture
async def start(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """Start gateways on a free port with ``server`` and ``routes`` settings; stop them all."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    started: list[GatewayServer] = []

    async def start(routes: dict[str, str], **server: Any) -> GatewayServer:
        config = GatewayConfig.model_validate(
            {
                "server": {"host": "127.0.0.1", "port": 0, **server},
                "handlers": {"path": str(ROOT)},
                "routes": routes,
            }
        )
        gateway_server = GatewayServer(build_gateway(config))
        await gateway_server.start()
        started.append(gateway_server)
        return gateway_server

    try:
        yield start
    finally:
        for gateway_server in started:
            await gateway_server.stop()


DEFAULT = {"$default": "tests.server.runner_handlers:default"}


def test_the_default_backlog_is_above_aiohttps() -> None:
    """aiohttp's 128 refused connects at 500 concurrent clients; the kernel caps ours."""
    assert ServerSettings().backlog == 1024


async def test_the_backlog_setting_reaches_listen(start: Start) -> None:
    """While the loop accepts nothing, the kernel completes ``backlog`` + 1 connects (Linux
    counts one more than asked) and drops the SYN of the next one."""
    backlog = 3
    server = await start(DEFAULT, backlog=backlog)
    connected: list[socket.socket] = []
    try:
        # Blocking calls on purpose: the loop is held, so nothing leaves the accept queue.
        for _ in range(backlog + 5):
            try:
                connected.append(socket.create_connection(("127.0.0.1", server.port), timeout=0.3))
            except OSError:  # timed out: the queue is full
                break
        assert backlog <= len(connected) <= backlog + 1
    finally:
        for sock in connected:
            sock.close()


async def test_stop_closes_the_listeners_before_the_drain(start: Start) -> None:
    """While ``$disconnect`` handlers still run, the port already refuses connections."""
    runner_handlers.DISCONNECTING.clear()
    runner_handlers.RELEASE.clear()
    server = await start({**DEFAULT, "$disconnect": "tests.server.runner_handlers:held_disconnect"})
    port = server.port
    async with contextlib.AsyncExitStack() as stack:
        ws = await stack.enter_async_context(websockets.connect(f"ws://127.0.0.1:{port}/dev"))
        stopping = asyncio.create_task(server.stop())
        try:
            assert await asyncio.to_thread(runner_handlers.DISCONNECTING.wait, 5)
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port)
            assert not stopping.done()
        finally:
            runner_handlers.RELEASE.set()
            await stopping
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1001

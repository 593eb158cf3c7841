"""An async def handler that holds the event loop is named in the log, once a minute."""

from __future__ import annotations

import asyncio
import logging

import pytest
import websockets

from tests.e2e.conftest import GatewayFactory


async def test_an_async_handler_making_a_blocking_call_is_logged_once(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    running = await gateway_factory(
        routes={
            "block": {"handler": "tests.e2e.handlers:blocks_the_loop", "response": True},
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        },
        handlers={"blocking_warning": 0.1},
    )
    caplog.set_level(logging.WARNING, logger="wsgate.handlers")
    async with websockets.connect(running.ws_url()) as ws:
        for _ in range(2):
            await ws.send('{"action": "block"}')
            assert await asyncio.wait_for(ws.recv(), 5) == "done"
        await ws.send('{"action": "echo"}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"action": "echo"}'
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgate.handlers"]
    # Four long steps (two per message, before and after the await): one line.
    assert len(lines) == 1
    assert lines[0].startswith("handler tests.e2e.handlers:blocks_the_loop held the event loop")

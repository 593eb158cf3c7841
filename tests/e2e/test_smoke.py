from __future__ import annotations

import websockets

from tests.e2e.conftest import RunningGateway


async def test_echo_round_trip(gateway: RunningGateway) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        await ws.send('{"action": "echo", "x": 1}')
        assert await ws.recv() == '{"action": "echo", "x": 1}'

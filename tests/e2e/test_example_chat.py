"""The example chat API from examples/chat, as a newcomer would use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from wsgate.config.files import load_config
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


EXAMPLE = Path(__file__).parents[2] / "examples" / "chat" / "wsgate.yaml"


@pytest.fixture
async def chat() -> AsyncIterator[GatewayServer]:
    config = load_config(EXAMPLE, environ={})
    config = config.model_copy(
        update={"server": config.server.model_copy(update={"port": 0, "tls_port": 0})}
    )
    server = GatewayServer(build_gateway(config))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_chat_broadcasts_and_echoes(chat: GatewayServer) -> None:
    url = f"ws://127.0.0.1:{chat.port}/dev"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{url}?token=wrong"):
            pass
    assert refused.value.response.status_code == 401
    async with (
        websockets.connect(f"{url}?token=letmein&name=ann") as ann,
        websockets.connect(f"{url}?token=letmein&name=bob") as bob,
    ):
        await ann.send('{"action": "sendmessage", "message": "hello"}')
        for ws in (ann, bob):
            assert orjson.loads(await ws.recv()) == {"from": "ann", "message": "hello"}
        await bob.send('{"action": "echo", "text": "ping"}')
        assert await bob.recv() == '{"action": "echo", "text": "ping"}'
        await bob.send("no action")
        assert "Unknown action" in str(await bob.recv())

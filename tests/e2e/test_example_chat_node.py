"""The example chat API with Node.js functions, examples/chat-node, as a newcomer would use it.

Its functions run in aws-lambda-ric workers under node (``make node``); the connection
list is a JSON file in a temporary folder; sendmessage posts to every connection through
the SDK v3 management client, over the gateway's TLS listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import websockets

from tests.e2e.conftest import wait_for
from wsgate.config.files import load_config
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer
from wsgate.workers.runtimes import RUNTIMES


EXAMPLE = Path(__file__).parents[2] / "examples" / "chat-node" / "wsgate.yaml"


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[GatewayServer]:
    missing = RUNTIMES["nodejs20.x"].installed()
    if missing is not None:
        pytest.fail(f"Node.js workers cannot run here: {missing}", pytrace=False)
    config = load_config(EXAMPLE, environ={"CHAT_TABLE_DIR": str(tmp_path)})
    config = config.model_copy(
        update={"server": config.server.model_copy(update={"port": 0, "tls_port": 0})}
    )
    server = GatewayServer(build_gateway(config))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_chat_node_broadcasts_and_echoes(chat: GatewayServer, tmp_path: Path) -> None:
    table = tmp_path / "connections.json"
    url = f"ws://127.0.0.1:{chat.port}/dev"
    async with websockets.connect(url) as ann, websockets.connect(url) as bob:
        assert len(orjson.loads(table.read_bytes())) == 2
        await ann.send('{"action": "sendmessage", "data": "hello everyone"}')
        for ws in (ann, bob):
            assert await asyncio.wait_for(ws.recv(), 5) == "hello everyone"
        await bob.send('{"action": "echo", "text": "ping"}')
        assert await bob.recv() == '{"action": "echo", "text": "ping"}'
    await wait_for(lambda: orjson.loads(table.read_bytes()) == [])

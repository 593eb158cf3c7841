"""A boto3 client a handler module makes at import time works with no credentials set up:
the gateway's placeholder credentials are in place before handlers are imported."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import websockets

from tests.e2e.conftest import GatewayFactory


async def test_a_client_made_at_import_time_can_post(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with socket.socket() as probe:  # a free port, known before the module is imported
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("IMPORT_TIME_ENDPOINT", f"http://127.0.0.1:{port}/dev")
    running = await gateway_factory(
        routes={"post": "tests.e2e.import_time_client:post_back"},
        server={"port": port, "tls_port": None},
    )
    async with websockets.connect(running.ws_url()) as ws:
        await ws.send('{"action": "post"}')
        assert await asyncio.wait_for(ws.recv(), 5) == "posted by a module client"

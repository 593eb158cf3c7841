"""The TLS listener: WebSocket upgrades and the management API both go through it."""

from __future__ import annotations

import asyncio
import ssl

import boto3
import websockets

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway


EVENT_LOOPS = ("asyncio", "uvloop")
"""Each test on both: ``wsgate serve`` runs on uvloop, whose sockets behave otherwise."""


def client_context(gateway: RunningGateway) -> ssl.SSLContext:
    """Trusts the gateway's self-signed certificate, and nothing else."""
    files = gateway.server.tls_files
    assert files is not None
    return ssl.create_default_context(cafile=str(files.cert))


def wss_url(gateway: RunningGateway, query: str = "") -> str:
    suffix = f"?{query}" if query else ""
    return f"wss://localhost:{gateway.server.tls_port}/{gateway.stage}{suffix}"


async def test_a_wss_connection_routes_messages_and_says_https(gateway: RunningGateway) -> None:
    async with websockets.connect(wss_url(gateway, "a=1"), ssl=client_context(gateway)) as ws:
        await ws.send('{"action": "echo", "n": 1}')
        assert await asyncio.wait_for(ws.recv(), 5) == '{"action": "echo", "n": 1}'
    connect = handlers.events_for("$connect")[0]
    assert connect["headers"]["X-Forwarded-Proto"] == "https"
    assert connect["headers"]["X-Forwarded-Port"] == str(gateway.server.tls_port)
    assert connect["queryStringParameters"] == {"a": "1"}


async def test_wss_refusals_are_http_answers_over_tls(gateway: RunningGateway) -> None:
    wrong_stage = f"wss://localhost:{gateway.server.tls_port}/other"
    try:
        async with websockets.connect(wrong_stage, ssl=client_context(gateway)):
            raise AssertionError("a wrong stage must not upgrade")
    except websockets.exceptions.InvalidStatus as exc:
        assert exc.response.status_code == 403


async def test_management_post_over_https_reaches_a_wss_client(gateway: RunningGateway) -> None:
    files = gateway.server.tls_files
    assert files is not None
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://localhost:{gateway.server.tls_port}/{gateway.stage}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        verify=str(files.cert),
    )
    async with websockets.connect(wss_url(gateway), ssl=client_context(gateway)) as ws:
        connection_id = handlers.events_for("$connect")[0]["requestContext"]["connectionId"]
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"hi")
        assert await asyncio.wait_for(ws.recv(), 5) == "hi"
        info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"

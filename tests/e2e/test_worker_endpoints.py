"""Management calls from every runtime, with user code unchanged, end to end.

A handler builds its endpoint from the event, as AWS code does: ``https://{domainName}
/{stage}``, or the AWS-style ``https://{apiId}.execute-api.{region}.amazonaws.com/{stage}``
that frameworks build. Each runtime (an in-process Python handler, a Python worker with
real boto3, a Node.js worker with the real AWS SDK v3) posts to its own connection, gets
it, and deletes another, through both forms, with and without a TLS listener; a call to
any other https host goes where it was addressed. The handlers are
``tests/e2e/functions/endpoints-python/endpoints_app.py`` and
``tests/e2e/functions/endpoints-node/index.mjs``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from tests.e2e.test_workers import FUNCTIONS
from wsgate.config.model import GatewayConfig
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer
from wsgate.server.tls import make_self_signed, server_context
from wsgate.workers.runtimes import RUNTIMES


PYTHON_CODE = FUNCTIONS / "endpoints-python"
EVENT_LOOPS = ("asyncio", "uvloop")
"""Each test on both: ``wsgate serve`` runs on uvloop (``tests/conftest.py``)."""

RUNTIME_ROUTES: dict[str, dict[str, Any]] = {
    "inprocess": {"handler": "endpoints_app:lambda_handler", "response": True},
    "python": {"function": "py", "response": True},
    "node": {"function": "node", "response": True},
}

Start = Callable[..., Any]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start gateways whose ``$default`` runs in ``runtime``; all stop at the end."""
    servers: list[GatewayServer] = []

    async def start(runtime: str, *, tls: bool, **handlers: Any) -> GatewayServer:
        raw: dict[str, Any] = {
            "api": {"name": "endpoints", "stage": "dev"},
            "server": {"host": "127.0.0.1", "port": 0, **({"tls_port": 0} if tls else {})},
            "handlers": {"path": str(PYTHON_CODE), **handlers},
            "routes": {"$default": RUNTIME_ROUTES[runtime]},
        }
        if runtime != "inprocess":
            raw["functions"] = {
                "py": {
                    "runtime": "python3.12",
                    "code": str(PYTHON_CODE),
                    "handler": "endpoints_app.lambda_handler",
                    "timeout": 20,
                },
                "node": {
                    "runtime": "nodejs20.x",
                    "code": str(FUNCTIONS / "endpoints-node"),
                    "handler": "index.handler",
                    "timeout": 20,
                },
            }
        server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
        await server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


@pytest.fixture(autouse=True)
def node_runtime_installed() -> None:
    """Fail (never skip) when node or aws-lambda-ric cannot start."""
    missing = RUNTIMES["nodejs20.x"].installed()
    if missing is not None:
        pytest.fail(f"Node.js workers cannot run here: {missing}", pytrace=False)


def url(server: GatewayServer) -> str:
    return f"ws://127.0.0.1:{server.port}/dev"


async def whoami(ws: Any) -> str:
    """The connection's id, as the handler sees it."""
    await ws.send('{"whoami": true}')
    return str(await asyncio.wait_for(ws.recv(), 30))


async def other_https_server(folder: Path) -> tuple[asyncio.Server, list[bytes]]:
    """A local https server that is not the gateway: it answers ``other`` and keeps what
    it was sent."""
    files = make_self_signed(folder, ("localhost",))
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nother")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context(files))
    return server, seen


async def exchange(server: GatewayServer, form: str, other: str | None = None) -> dict[str, Any]:
    """From a caller: post to itself, get itself and delete a victim, through ``form``.

    Returns the handler's reply, after checking what the caller and the victim saw.
    """
    async with websockets.connect(url(server)) as victim:
        victim_id = await whoami(victim)
        async with websockets.connect(url(server)) as caller:
            request = {"form": form, "victim": victim_id, "other": other}
            await caller.send(orjson.dumps(request).decode())
            posted = await asyncio.wait_for(caller.recv(), 30)
            reply = orjson.loads(await asyncio.wait_for(caller.recv(), 30))
        assert posted == f"posted via {reply['url']}"
        await asyncio.wait_for(victim.wait_closed(), 10)
    assert reply["sourceIp"] == "127.0.0.1"
    result: dict[str, Any] = reply
    return result


@pytest.mark.parametrize("tls", [False, True], ids=["no-tls-listener", "tls-listener"])
@pytest.mark.parametrize("form", ["domain", "execute-api"])
@pytest.mark.parametrize("runtime", ["inprocess", "python", "node"])
async def test_management_calls_through_both_endpoint_forms(
    start: Start, runtime: str, form: str, tls: bool
) -> None:
    """post, get and delete reach the gateway from each runtime, by either name, whether
    or not the gateway has a TLS listener."""
    server = await start(runtime, tls=tls)
    reply = await exchange(server, form)
    api = server.gateway.api
    expected = (
        f"https://{api.api_id}.execute-api.us-east-1.amazonaws.com/dev"
        if form == "execute-api"
        else f"https://{api.domain_name}/dev"
    )
    assert reply["url"] == expected
    port = server.tls_port if tls else server.port
    assert api.domain_name == f"localhost:{port}"


@pytest.mark.parametrize("form", ["domain", "execute-api"])
async def test_in_process_calls_over_https_on_the_plain_port(start: Start, form: str) -> None:
    """With in-process answering off, a handler's boto3 call really goes over TLS to the
    plain port (no TLS listener), by either name, trusting the gateway's certificate."""
    server = await start("inprocess", tls=False, in_process_management=False)
    reply = await exchange(server, form)
    assert reply["url"].startswith("https://")


@pytest.mark.parametrize("runtime", ["inprocess", "python", "node"])
async def test_other_https_hosts_are_not_redirected(
    start: Start, runtime: str, tmp_path: Path
) -> None:
    """A handler's call to another https host reaches that host, not the gateway."""
    other, seen = await other_https_server(tmp_path)
    try:
        port = other.sockets[0].getsockname()[1]
        server = await start(runtime, tls=False)
        reply = await exchange(server, "execute-api", other=f"https://localhost:{port}/elsewhere")
    finally:
        other.close()
    assert reply["other"] == "other"
    assert len(seen) == 1 and seen[0].startswith(b"GET /elsewhere HTTP/1.1\r\n")


async def test_the_plain_port_speaks_tls_with_the_gateways_certificate(start: Start) -> None:
    """wss:// on the plain port works too, and the certificate names localhost and the
    AWS-style host; a plain ws:// client on the same port is unaffected."""
    server = await start("python", tls=False)
    bundle = Path(os.environ["AWS_CA_BUNDLE"])  # what workers are given
    context = ssl.create_default_context(cafile=str(bundle))
    async with websockets.connect(f"wss://localhost:{server.port}/dev", ssl=context) as ws:
        assert ws.response is not None and ws.response.status_code == 101
    api = server.gateway.api
    host = f"{api.api_id}.execute-api.us-east-1.amazonaws.com"
    _, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=context, server_hostname=host
    )
    writer.close()  # verified for the AWS-style host
    async with websockets.connect(url(server)) as ws:
        assert ws.response is not None and ws.response.status_code == 101

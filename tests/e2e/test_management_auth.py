"""Who may call the management API: SigV4 as execute-api checks it, a listener of its own,
no web pages; real sockets, real boto3 clients, over HTTP (the in-process hook is taken
off the test's own clients, which would otherwise be answered without a request)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import botocore
import botocore.auth
import botocore.config
import orjson
import pytest
import websockets
import yarl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection

from tests.e2e import handlers
from tests.e2e.conftest import BASE_ROUTES, HERE
from tests.e2e.plain_botocore import http_only_client
from tests.e2e.test_wire import raw_connection, read_response
from wsgate.config.files import parse_config
from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.server import inprocess
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


KEY_A = {"access_key_id": "AKIDROTATEDOUT", "secret_access_key": "secret-a"}
KEY_B = {"access_key_id": "AKIDROTATEDIN", "secret_access_key": "secret-b"}
KEY_T = {
    "access_key_id": "ASIATEMPORARY",
    "secret_access_key": "secret-t",
    "session_token": "the-session-token",
}
SIGNED = {"auth": "sigv4", "credentials": [KEY_A, KEY_B, KEY_T]}
ROUTES: dict[str, Any] = {
    **BASE_ROUTES,
    "call": {"handler": "tests.e2e.inprocess_handlers:call", "response": True},
}
BEFORE_SEND = "before-send.apigatewaymanagementapi"
MISMATCH = "The request signature we calculated does not match the signature you provided."


@dataclass
class Running:
    server: GatewayServer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def management_port(self) -> int:
        return self.server.management_port or self.server.port

    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/dev"

    def url(self, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.management_port}/dev"


Start = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start gateways with a ``management`` section (and other sections); stop them all."""
    handlers.EVENTS.clear()
    started: list[GatewayServer] = []

    async def begin(
        management: dict[str, Any], routes: dict[str, Any] | None = None, **sections: Any
    ) -> Running:
        raw: dict[str, Any] = {
            "api": {"name": "e2e", "stage": "dev"},
            "server": {"host": "127.0.0.1", "port": 0, "tls_port": 0},
            "handlers": {"path": str(HERE.parent.parent), **sections.get("handlers", {})},
            "routes": ROUTES if routes is None else routes,
            "management": management,
        }
        server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
        await server.start()
        started.append(server)
        return Running(server)

    try:
        yield begin
    finally:
        for server in started:
            await server.stop()
        os.environ.pop("AWS_CA_BUNDLE", None)


def client(
    url: str,
    key: dict[str, str] | None = None,
    *,
    region: str = "us-east-1",
    **config: Any,
) -> Any:
    """A management client that goes over HTTP, signed with ``key`` (KEY_B by default)."""
    key = key or KEY_B
    return http_only_client(
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
        aws_session_token=key.get("session_token"),
        config=botocore.config.Config(retries={"max_attempts": 1}, **config),
    )


async def connect(
    stack: contextlib.AsyncExitStack, running: Running
) -> tuple[ClientConnection, str]:
    ws = await stack.enter_async_context(websockets.connect(running.ws_url()))
    return ws, str(handlers.events_for("$connect")[-1]["requestContext"]["connectionId"])


async def post(made: Any, connection_id: str, data: bytes) -> Any:
    return await asyncio.to_thread(made.post_to_connection, ConnectionId=connection_id, Data=data)


async def refused(made: Any, connection_id: str, data: bytes = b"never") -> ClientError:
    """The ClientError boto3 raises for a POST, checked to be execute-api's 403."""
    with pytest.raises(ClientError) as caught:
        await post(made, connection_id, data)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert (
        response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
        == (response["Error"]["Code"])
    )
    return caught.value


async def first_message_is(ws: ClientConnection, made: Any, connection_id: str) -> None:
    """Nothing reached the client before a signed marker: it is the first thing it reads."""
    await post(made, connection_id, b"marker")
    assert await asyncio.wait_for(ws.recv(), 5) == "marker"


def resign(service: str) -> Callable[..., None]:
    """A before-send hook signing the request again, for ``service``, with KEY_B."""

    def hook(request: Any, **kwargs: Any) -> None:
        again = AWSRequest(
            request.method,
            request.url,
            data=request.body,
            headers={
                k: v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
                if k.lower() not in ("authorization", "x-amz-date")
            },
        )
        credentials = Credentials(KEY_B["access_key_id"], KEY_B["secret_access_key"])
        SigV4Auth(credentials, service, "us-east-1").add_auth(again)
        request.headers["Authorization"] = again.headers["Authorization"]
        request.headers["X-Amz-Date"] = again.headers["X-Amz-Date"]

    return hook


def drop(name: str) -> Callable[..., None]:
    def hook(request: Any, **kwargs: Any) -> None:
        del request.headers[name]

    return hook


def replace_body(request: Any, **kwargs: Any) -> None:
    request.body = b"tampered"
    request.headers["Content-Length"] = str(len(request.body))


# --- signed calls ----------------------------------------------------------------------


async def test_calls_signed_with_each_configured_key_succeed(start: Start) -> None:
    """Every key pair (an old one, its successor, a temporary one with its token) works
    for POST, GET and DELETE: keys rotate without a pause."""
    running = await start(SIGNED)
    before = inprocess.served_count()
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        for key in (KEY_A, KEY_B, KEY_T):
            made = client(running.url(), key)
            response = await post(made, connection_id, key["access_key_id"].encode())
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert await asyncio.wait_for(ws.recv(), 5) == key["access_key_id"]
            info = await asyncio.to_thread(made.get_connection, ConnectionId=connection_id)
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
        made = client(running.url(), KEY_A)
        gone = await asyncio.to_thread(made.delete_connection, ConnectionId=connection_id)
        assert gone["ResponseMetadata"]["HTTPStatusCode"] == 204
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1000
    assert inprocess.served_count() == before  # every call above went over HTTP


async def test_a_presigned_url_is_accepted(start: Start) -> None:
    """botocore's presigner (X-Amz-* in the query) is accepted for GET and DELETE."""
    running = await start(SIGNED)
    made = client(running.url())
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        # encoded=True: sent as signed (yarl would otherwise turn the id's %3D into =).
        get_url = yarl.URL(
            made.generate_presigned_url("get_connection", {"ConnectionId": connection_id}),
            encoded=True,
        )
        delete_url = yarl.URL(
            made.generate_presigned_url(
                "delete_connection", {"ConnectionId": connection_id}, HttpMethod="DELETE"
            ),
            encoded=True,
        )
        tampered = yarl.URL(
            str(get_url).replace("X-Amz-Signature=", "X-Amz-Signature=0"), encoded=True
        )
        async with aiohttp.ClientSession() as session:
            async with session.get(get_url) as response:
                assert response.status == 200
                assert "connectedAt" in orjson.loads(await response.read())
            async with session.get(tampered) as bad:
                assert bad.status == 403
                assert bad.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
            async with session.delete(delete_url) as response:
                assert response.status == 204
        await asyncio.wait_for(ws.wait_closed(), 5)


# --- refused calls ---------------------------------------------------------------------


REFUSALS: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (client options, error code, start of the message)
    "unsigned": (
        {"unsigned": botocore.UNSIGNED},
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    ),
    "wrong secret": (
        {"key": {**KEY_B, "secret_access_key": "not-it"}},
        "InvalidSignatureException",
        MISMATCH,
    ),
    "unknown key": (
        {"key": {"access_key_id": "AKIDNOBODY", "secret_access_key": "x"}},
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    "wrong region": (
        {"region": "eu-west-1"},
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    ),
    "wrong service": (
        {"before_send": resign("apigateway")},
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'execute-api'. ",
    ),
    "tampered body": ({"before_send": replace_body}, "InvalidSignatureException", MISMATCH),
    "missing signed header": (
        {"before_sign": "X-Wsgate-Signed", "before_send": drop("X-Wsgate-Signed")},
        "InvalidSignatureException",
        MISMATCH,
    ),
    "missing date": (
        {"before_send": drop("X-Amz-Date")},
        "IncompleteSignatureException",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    ),
    "missing session token": (
        {"key": KEY_T, "before_send": drop("X-Amz-Security-Token")},
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    "expired date": (
        {"minutes_ago": 6},
        "InvalidSignatureException",
        "Signature expired: ",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_call_that_is_not_signed_right_gets_execute_apis_403(
    start: Start, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Status 403, the x-amzn-ErrorType boto3 turns into the error code, AWS's message;
    and the client receives nothing."""
    options, code, message = REFUSALS[case]
    running = await start(SIGNED)
    config = {"signature_version": options["unsigned"]} if "unsigned" in options else {}
    made = client(
        running.url(), options.get("key"), region=options.get("region", "us-east-1"), **config
    )
    if "before_sign" in options:
        name = options["before_sign"]

        def add(request: Any, **kwargs: Any) -> None:
            request.headers[name] = "1"

        made.meta.events.register("before-sign.apigatewaymanagementapi", add)
    if "before_send" in options:
        made.meta.events.register(BEFORE_SEND, options["before_send"])
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        with monkeypatch.context() as clock:
            if "minutes_ago" in options:  # boto3 signs as if its clock were behind
                then = botocore.compat.get_current_datetime() - datetime.timedelta(
                    minutes=options["minutes_ago"]
                )
                clock.setattr(botocore.auth, "get_current_datetime", lambda: then)
            error = await refused(made, connection_id)
        assert error.response["Error"]["Code"] == code
        assert error.response["Error"]["Message"].startswith(message)
        await first_message_is(ws, client(running.url()), connection_id)


async def test_a_call_signed_for_one_connection_cannot_reach_another(start: Start) -> None:
    """The path is signed: moving a signed POST to another connection's path is refused,
    and neither client receives anything."""
    running = await start(SIGNED)
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        other_ws, other_id = await connect(stack, running)
        made = client(running.url())

        def retarget(request: Any, **kwargs: Any) -> None:
            request.url = request.url.replace(
                connection_id.replace("=", "%3D"), other_id.replace("=", "%3D")
            )

        made.meta.events.register(BEFORE_SEND, retarget)
        error = await refused(made, connection_id)
        assert error.response["Error"]["Code"] == "InvalidSignatureException"
        honest = client(running.url())
        await first_message_is(other_ws, honest, other_id)
        await first_message_is(ws, honest, connection_id)


async def test_a_post_without_a_valid_signature_delivers_nothing(start: Start) -> None:
    """Whichever way it comes (the front door, aiohttp's chunked path, boto3 with a wrong
    secret, HTTP/1.0), an unsigned or badly signed POST sends no frame."""
    running = await start(SIGNED)
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        path = f"/dev/@connections/{connection_id.replace('=', '%3D')}"
        forged = "AWS4-HMAC-SHA256 Credential=AKIDROTATEDIN/20260101/us-east-1/execute-api/"
        forged += "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        requests = [
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nplain!",
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {forged}\r\n"
            "X-Amz-Date: 20260101T000000Z\r\nContent-Length: 6\r\n\r\nforged",
            f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "7\r\nchunked\r\n0\r\n\r\n",
            f"POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\n\r\nold10",
        ]
        for request in requests:
            async with raw_connection(running.port) as (reader, writer):
                writer.write(request.encode())
                response = await read_response(reader)
                assert response.status == 403, request
                assert response.headers["x-amzn-errortype"] in (
                    "MissingAuthenticationTokenException",
                    "InvalidSignatureException",
                )
        await refused(client(running.url(), {**KEY_A, "secret_access_key": "guess"}), connection_id)
        await first_message_is(ws, client(running.url()), connection_id)


# --- from handlers ---------------------------------------------------------------------


async def test_handlers_calls_in_process_need_no_signature(
    start: Start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With sigv4 and no credentials in the environment, a handler's boto3 call to its own
    gateway is answered in process, unchecked; the placeholder pair handlers get is made
    at random, never the public one."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    running = await start({"auth": "sigv4", "credentials": [KEY_A]})
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in ("wsgate", "")
    before = inprocess.served_count()
    async with contextlib.AsyncExitStack() as stack:
        ws, _ = await connect(stack, running)
        await ws.send(
            orjson.dumps({"action": "call", "op": "post_to_connection", "size": 3}).decode()
        )
        assert await asyncio.wait_for(ws.recv(), 5) == "zzz"
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["status"] == 200
    assert inprocess.served_count() == before + 1


async def test_handlers_calls_over_http_are_signed_with_the_gateways_own_key(
    start: Start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With in-process calls off, a handler's call goes over HTTPS to domainName, signed
    with the key the gateway made for its handlers, which it accepts; a caller outside
    without that key is still refused."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    running = await start(
        {"auth": "sigv4", "credentials": [KEY_A]}, handlers={"in_process_management": False}
    )
    # boto3's default session keeps the credentials it first found; a process running
    # one gateway finds them once it started, as this fresh session will.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    before = inprocess.served_count()
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        await ws.send(
            orjson.dumps({"action": "call", "op": "post_to_connection", "size": 3}).decode()
        )
        assert await asyncio.wait_for(ws.recv(), 5) == "zzz"
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["status"] == 200
        error = await refused(client(running.url(), KEY_B), connection_id)
        assert error.response["Error"]["Code"] == "UnrecognizedClientException"
    assert inprocess.served_count() == before


# --- where the API is served -----------------------------------------------------------


async def test_management_listen_serves_the_api_there_and_only_there(start: Start) -> None:
    """On management.listen the API answers signed calls and starts no handshake; the
    public port refuses every management call (front door and aiohttp alike) as a path
    it does not serve, but still upgrades; handlers' in-process calls still work."""
    running = await start({**SIGNED, "listen": "127.0.0.1:0"})
    assert running.server.management_port not in (None, running.port)
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        response = await post(client(running.url()), connection_id, b"via-listen")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert await asyncio.wait_for(ws.recv(), 5) == "via-listen"
        error = await refused(client(running.url(running.port)), connection_id)
        assert error.response["Error"]["Code"] == "MissingAuthenticationTokenException"
        assert error.response["Error"]["Message"] == "Missing Authentication Token"
        path = f"/dev/@connections/{connection_id.replace('=', '%3D')}"
        for request in (
            f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ):
            async with raw_connection(running.port) as (reader, writer):
                writer.write(request.encode())
                answer = await read_response(reader)
                assert answer.status == 403
                assert answer.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
        upgrade = (
            "GET /dev HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        async with raw_connection(running.management_port) as (reader, writer):
            writer.write(upgrade.encode())
            answer = await read_response(reader)
            assert answer.status == 403 and b"Missing Authentication Token" in answer.body
        await ws.send(orjson.dumps({"action": "call", "op": "get_connection"}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["status"] == 200
        await first_message_is(ws, client(running.url()), connection_id)


async def test_a_cross_origin_post_is_refused(start: Start) -> None:
    """A web page's text/plain POST (no preflight) carries its Origin: refused with 403 on
    an unsigned API too, and nothing is sent; an allowed origin passes."""
    running = await start({"allowed_origins": ["http://admin.example"]})
    async with contextlib.AsyncExitStack() as stack:
        ws, connection_id = await connect(stack, running)
        url = f"{running.url()}/@connections/{connection_id}"
        async with aiohttp.ClientSession() as session:
            for chunked in (False, True):
                async with session.post(
                    url,
                    data=b"from-a-page",
                    chunked=chunked,
                    headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
                ) as response:
                    assert response.status == 403
                    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
            async with session.post(
                url, data=b"admin", headers={"Origin": "http://admin.example"}
            ) as response:
                assert response.status == 200
        assert await asyncio.wait_for(ws.recv(), 5) == "admin"


def test_a_public_host_with_auth_none_refuses_to_start(tmp_path: Path) -> None:
    """wsgate serve on 0.0.0.0 with management.auth only defaulted exits 2 before
    binding, naming the keys; written out, or with a loopback listen, it is accepted."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "wsgate.yaml"
    config.write_text(f"server: {{host: 0.0.0.0, port: {port}}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "wsgate", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "management.auth: not set, and server.host '0.0.0.0' is not a loopback" in done.stderr
    assert "management.listen" in done.stderr and "management.auth: none" in done.stderr
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", port))  # nothing took the port
    for accepted in (
        "server: {host: 0.0.0.0}\nmanagement: {auth: none}\n",
        "server: {host: 0.0.0.0}\nmanagement: {listen: '127.0.0.1:9001'}\n",
        "server: {host: 0.0.0.0}\nmanagement: {auth: sigv4}\n",
        "server: {host: '::1'}\n",
    ):
        parse_config(accepted, "wsgate.yaml", tmp_path)
    with pytest.raises(ConfigError, match=r"management\.listen '10\.0\.0\.1' is not a loopback"):
        parse_config("management: {listen: '10.0.0.1:9001'}\n", "wsgate.yaml", tmp_path)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("management: {listen: '127.0.0.1:8080'}\n", "management.listen: port 8080 is already"),
        ("management: {listen: '::1:9001'}\n", "management.listen: write an IPv6 address in"),
        (
            "management: {credentials: [{access_key_id: a, secret_access_key: b}]}\n",
            "management.credentials: only used with auth: sigv4",
        ),
        (
            "management: {auth: sigv4, credentials: [{access_key_id: a, secret_access_key: b},"
            " {access_key_id: a, secret_access_key: c}]}\n",
            "management.credentials: access key id 'a' is given twice ([0] and [1])",
        ),
        (
            "management: {allowed_origins: ['https://admin.example/page']}\n",
            "management.allowed_origins[0]: expected an origin such as",
        ),
        ("management: {auth: iam}\n", "management.auth: expected 'none' or 'sigv4'"),
    ],
)
def test_management_settings_are_checked_when_the_file_is_read(
    text: str, error: str, tmp_path: Path
) -> None:
    """Each mistake in the management section stops start-up, the key named."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "wsgate.yaml", tmp_path)
    assert str(caught.value).startswith(f"wsgate.yaml: {error}")


def test_secrets_are_read_from_the_environment_and_never_shown(tmp_path: Path) -> None:
    text = (
        "management:\n  auth: sigv4\n  credentials:\n"
        "    - {access_key_id: AKIDX, secret_access_key: '${env:SECRET}', session_token: t}\n"
    )
    config = parse_config(text, "wsgate.yaml", tmp_path, {"SECRET": "from-env"})
    credential = config.management.credentials[0]
    assert credential.secret_access_key.get_secret_value() == "from-env"
    assert "from-env" not in repr(config) and "'t'" not in repr(config)
    for model in (type(config.management), type(credential)):
        assert all(field.description for field in model.model_fields.values())

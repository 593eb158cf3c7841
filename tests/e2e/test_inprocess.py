"""boto3 management calls to a gateway of this process: served without HTTP, same answers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import struct
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import pytest
import websockets
from aiohttp import web
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, make_config
from tests.e2e.plain_botocore import http_only_client
from tests.e2e.test_wire import (
    client_frame,
    raw_connection,
    read_eof,
    read_frame,
    read_response,
    upgrade_head,
)
from tests.http_app import serving
from wsgate.registry.memory import MemoryRegistry
from wsgate.server import inprocess
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


ROUTES: dict[str, Any] = {
    "$connect": "tests.e2e.handlers:connect",
    "call": {"handler": "tests.e2e.inprocess_handlers:call", "response": True},
    "call_async": {"handler": "tests.e2e.inprocess_handlers:call_async", "response": True},
    "relay": "tests.e2e.inprocess_handlers:relay",
    "burst": {"handler": "tests.e2e.inprocess_handlers:burst", "response": True},
    "bye": "tests.e2e.handlers:delete_self",
}
UNKNOWN_ID = "AAAAAAAAAAAAAAA="


async def connect(
    stack: contextlib.AsyncExitStack, running: RunningGateway, **options: Any
) -> tuple[ClientConnection, str]:
    """Open a connection for the rest of the test; return it and its connectionId."""
    ws = await stack.enter_async_context(websockets.connect(running.ws_url(), **options))
    return ws, str(handlers.events_for("$connect")[-1]["requestContext"]["connectionId"])


async def ask(ws: ClientConnection, route: str = "call", **request: Any) -> Any:
    """Send a ``call`` message and return the handler's decoded reply."""
    await ws.send(orjson.dumps({"action": route, **request}).decode())
    return orjson.loads(await ws.recv())


def client_for(url: str, **config: Any) -> Any:
    """A management client for ``url`` with the environment's credentials."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=url,
        region_name="us-east-1",
        config=botocore.config.Config(**config) if config else None,
    )


def over_http(url: str, **config: Any) -> Any:
    """``client_for(url)`` as botocore alone makes it: its calls go over HTTP."""
    return http_only_client(
        endpoint_url=url,
        region_name="us-east-1",
        config=botocore.config.Config(**config) if config else None,
    )


@pytest.fixture
async def running(gateway_factory: GatewayFactory) -> RunningGateway:
    gateway: RunningGateway = await gateway_factory(routes=ROUTES)
    return gateway


async def relay_between_two(
    stack: contextlib.AsyncExitStack, running: RunningGateway
) -> ClientConnection:
    """Two clients; the second's handler posts to itself and to the first. The second."""
    other, other_id = await connect(stack, running)
    ws, my_id = await connect(stack, running)
    await ws.send(orjson.dumps({"action": "relay", "to": other_id}).decode())
    assert await ws.recv() == "to-self"
    assert await other.recv() == f"from:{my_id}"
    return ws


# --- from handlers -------------------------------------------------------------------


async def test_def_handler_posts_to_itself_and_to_another_connection(
    running: RunningGateway,
) -> None:
    """A def handler's post_to_connection reaches both clients without an HTTP request."""
    before = inprocess.served_count()
    async with contextlib.AsyncExitStack() as stack:
        await relay_between_two(stack, running)
    assert inprocess.served_count() == before + 2


async def test_posts_from_handler_threads_arrive_in_order_before_their_replies(
    running: RunningGateway,
) -> None:
    """Posts a def handler makes do not wait for the loop, yet reach the client in the
    order they were made and ahead of the handler's own reply, on every connection."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [(await connect(stack, running))[0] for _ in range(4)]
        for ws in clients:
            await ws.send(orjson.dumps({"action": "burst", "count": 200}).decode())
        for ws in clients:
            received = [await ws.recv() for _ in range(201)]
            assert received == [str(n) for n in range(200)] + ["done"]


async def test_a_thread_queues_a_message_only_while_the_connection_can_take_it(
    running: RunningGateway,
) -> None:
    """send_threadsafe queues while the connection is open with room in its buffer, and
    leaves the answer to the loop (False) once the buffer is full or the connection
    closes; the POST then gets the loop's 429 or 410."""
    registry = running.server.gateway.registry
    async with contextlib.AsyncExitStack() as stack:
        ws, my_id = await connect(stack, running, max_queue=1, max_size=None, close_timeout=0.1)
        session = registry.local(my_id)
        assert session is not None
        assert await asyncio.to_thread(session.send_threadsafe, "first") is True
        assert await ws.recv() == "first"

        client = running.management_client(retries={"max_attempts": 1})

        def flood() -> int:
            for posted in range(200):
                try:
                    client.post_to_connection(ConnectionId=my_id, Data=b"m" * 131000)
                except client.exceptions.LimitExceededException:
                    return posted
            raise AssertionError("the buffer never filled")

        # websockets reads one message and stops: the socket's buffers fill, then ~4 MiB
        # wait in the server's, and the loop answers 429.
        assert await asyncio.to_thread(flood) > 10

        def fill_then_queue() -> bool:
            # The kernel may still take a few bytes from the server's buffer after the 429:
            # fill it again right before asking, until the thread side sees it full.
            for _ in range(20):
                flood()
                if not session.send_threadsafe(b"m" * 131000):
                    return False
            return True

        assert await asyncio.to_thread(fill_then_queue) is False
        await running.call("delete_connection", ConnectionId=my_id)
        assert await asyncio.to_thread(session.send_threadsafe, "late") is False
        with pytest.raises(client.exceptions.GoneException):
            await asyncio.to_thread(client.post_to_connection, ConnectionId=my_id, Data=b"x")


async def test_a_queued_message_is_dropped_if_the_connection_closes_first(
    running: RunningGateway,
) -> None:
    """Nothing is written after the close frame: a message queued from a thread that the
    loop reaches after DELETE began the close is dropped, as a message in flight is."""
    registry = running.server.gateway.registry
    async with raw_connection(running.port) as (reader, writer):
        writer.write(upgrade_head(f"/{running.stage}"))
        assert (await read_response(reader)).status == 101
        my_id = handlers.events_for("$connect")[-1]["requestContext"]["connectionId"]
        session = registry.local(my_id)
        assert session is not None
        # Queued and closed in one step of the loop: the close frame is written first.
        assert session.send_threadsafe("too late") is True
        await registry.close(my_id)
        closing = (Opcode.CLOSE.value, struct.pack("!H", 1000) + b"Connection Closed Normally")
        assert await read_frame(reader) == closing
        writer.write(client_frame(Opcode.CLOSE, struct.pack("!H", 1000)))
        assert await read_eof(reader) == b""


async def test_get_connection_from_a_handler_is_parsed_by_botocore(
    running: RunningGateway,
) -> None:
    """GetConnection gives datetimes and the Identity dict, as boto3 parses them."""
    async with contextlib.AsyncExitStack() as stack:
        ws, _ = await connect(stack, running, user_agent_header="agent/7")
        outcome = await ask(ws, op="get_connection")
    connected_ms = handlers.events_for("$connect")[-1]["requestContext"]["connectedAt"]
    result = outcome["result"]
    assert outcome["status"] == 200
    assert set(result) == {"ConnectedAt", "LastActiveAt", "Identity"}
    assert result["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/7"}
    assert set(result["ConnectedAt"]) == {"datetime"} == set(result["LastActiveAt"])
    connected_at = datetime.datetime.fromisoformat(result["ConnectedAt"]["datetime"])
    assert round(connected_at.timestamp() * 1000) == connected_ms


async def test_delete_from_a_handler_closes_the_client_with_1000(
    running: RunningGateway,
) -> None:
    """DeleteConnection from a def handler closes its own client with 1000."""
    async with contextlib.AsyncExitStack() as stack:
        ws, _ = await connect(stack, running)
        before = inprocess.served_count()
        await ws.send('{"action": "bye"}')
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1000
    assert inprocess.served_count() == before + 1


@pytest.mark.parametrize(
    ("request_", "error", "status"),
    [
        (
            {"op": "post_to_connection", "args": {"ConnectionId": UNKNOWN_ID, "Data": "x"}},
            "GoneException",
            410,
        ),
        ({"op": "get_connection", "stage": "prod"}, "ForbiddenException", 403),
        ({"op": "post_to_connection", "size": 131073}, "PayloadTooLargeException", 413),
    ],
    ids=["gone", "wrong-stage", "too-large"],
)
@pytest.mark.parametrize("route", ["call", "call_async"])
async def test_handlers_get_the_modeled_exceptions(
    running: RunningGateway, route: str, request_: dict[str, Any], error: str, status: int
) -> None:
    """def and async def handlers catch client.exceptions.X, with AWS's code and status."""
    before = inprocess.served_count()
    async with contextlib.AsyncExitStack() as stack:
        ws, _ = await connect(stack, running)
        outcome = await ask(ws, route, **request_)
    assert outcome == {"error": error, "is_modeled": True, "code": error, "status": status}
    assert inprocess.served_count() == before + 1


async def test_async_handler_calling_sync_boto3_is_served(running: RunningGateway) -> None:
    """On the loop's own thread the call completes in place (over HTTP it would deadlock)."""
    async with contextlib.AsyncExitStack() as stack:
        other, other_id = await connect(stack, running)
        ws, _ = await connect(stack, running)
        outcome = await ask(
            ws, "call_async", op="post_to_connection", args={"ConnectionId": other_id, "Data": "hi"}
        )
        assert outcome == {"status": 200, "result": {}}
        assert await other.recv() == "hi"
        outcome = await ask(ws, "call_async", op="get_connection")
        assert outcome["status"] == 200 and set(outcome["result"]["ConnectedAt"]) == {"datetime"}


class YieldingRegistry(MemoryRegistry):
    """A registry whose send gives the loop a turn first, as a networked one would."""

    async def send(self, connection_id: str, data: str | bytes) -> None:
        await asyncio.sleep(0)
        await super().send(connection_id, data)


async def test_a_call_that_must_wait_on_the_blocked_loop_raises_a_clear_error() -> None:
    """From an async def handler a call that cannot finish at once raises; from def it works."""
    server = GatewayServer(build_gateway(make_config(routes=ROUTES), registry=YieldingRegistry()))
    await server.start()
    running = RunningGateway(server=server, stage="dev")
    try:
        async with contextlib.AsyncExitStack() as stack:
            ws, _ = await connect(stack, running)
            outcome = await ask(ws, "call_async", op="post_to_connection", args={"Data": "x"})
            assert "plain def handler" in outcome["runtime_error"]
            outcome = await ask(ws, "call_async", op="get_connection")  # never waits
            assert outcome["status"] == 200
            await ws.send('{"action": "relay"}')
            assert await ws.recv() == "to-self"
    finally:
        await server.stop()


# --- the same answers as over HTTP ----------------------------------------------------


def _without_ids(response: dict[str, Any]) -> dict[str, Any]:
    """A boto3 result or error response without what differs from one response to the next."""
    response = dict(response)
    metadata = dict(response.pop("ResponseMetadata"))
    headers = dict(metadata.pop("HTTPHeaders"))
    assert headers.pop("x-amzn-requestid") == metadata.pop("RequestId")
    assert headers.pop("date").endswith(" GMT")
    return {**response, "ResponseMetadata": {**metadata, "HTTPHeaders": headers}}


def _outcome(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    try:
        result = getattr(client, operation)(**kwargs)
    except ClientError as error:
        return {
            "raised": type(error).__name__,
            "modeled": isinstance(error, getattr(client.exceptions, type(error).__name__)),
            "text": str(error),
            "response": _without_ids(error.response),
        }
    return {"returned": _without_ids(result)}


async def test_every_operation_answers_as_over_http(running: RunningGateway) -> None:
    """Each outcome, in process and over HTTP on the same connection, is equal but for ids."""
    base = f"http://127.0.0.1:{running.port}"
    urls = {"dev": f"{base}/dev", "prod": f"{base}/prod", "none": base}
    local = {name: client_for(url) for name, url in urls.items()}
    remote = {name: over_http(url) for name, url in urls.items()}
    async with contextlib.AsyncExitStack() as stack:
        ws, ws_id = await connect(stack, running, user_agent_header="agent/8")
        _, first_id = await connect(stack, running)
        _, second_id = await connect(stack, running)
        calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
            ("dev", "get_connection", {"ConnectionId": ws_id}, {}),
            ("dev", "post_to_connection", {"ConnectionId": ws_id, "Data": b"hello"}, {}),
            ("none", "post_to_connection", {"ConnectionId": ws_id, "Data": b"\xff\x00"}, {}),
            ("dev", "post_to_connection", {"ConnectionId": UNKNOWN_ID, "Data": b"x"}, {}),
            ("dev", "get_connection", {"ConnectionId": UNKNOWN_ID}, {}),
            ("prod", "get_connection", {"ConnectionId": ws_id}, {}),
            ("prod", "delete_connection", {"ConnectionId": ws_id}, {}),
            ("dev", "post_to_connection", {"ConnectionId": ws_id, "Data": b"z" * 131073}, {}),
            # Each deletes a connection of its own; the answers must still be equal.
            ("dev", "delete_connection", {"ConnectionId": first_id}, {"ConnectionId": second_id}),
            ("dev", "delete_connection", {"ConnectionId": first_id}, {"ConnectionId": second_id}),
        ]
        before = inprocess.served_count()
        for name, operation, kwargs, remote_kwargs in calls:
            here = await asyncio.to_thread(_outcome, local[name], operation, **kwargs)
            there = await asyncio.to_thread(
                _outcome, remote[name], operation, **(remote_kwargs or kwargs)
            )
            assert here == there, (name, operation)
        assert inprocess.served_count() == before + len(calls)
        assert [await ws.recv() for _ in range(4)] == ["hello", "hello", b"\xff\x00", b"\xff\x00"]


async def test_limit_exceeded_is_not_retried_in_process(running: RunningGateway) -> None:
    """A 429 LimitExceededException comes back at once; over HTTP botocore retries it."""
    async with contextlib.AsyncExitStack() as stack:
        # max_queue=1: websockets stops reading the socket once one message is waiting.
        # close_timeout: megabytes wait ahead of the close frame; no use waiting for it.
        _, stuck_id = await connect(stack, running, max_queue=1, max_size=None, close_timeout=0.1)
        client = running.management_client()

        def flood(target: Any) -> dict[str, Any]:
            for _ in range(200):
                try:
                    target.post_to_connection(ConnectionId=stuck_id, Data=b"m" * 131000)
                except target.exceptions.LimitExceededException as error:
                    response: dict[str, Any] = error.response
                    return response
            raise AssertionError("the buffer never filled")

        response = await asyncio.to_thread(flood, client)
        assert response["Error"] == {
            "Code": "LimitExceededException",
            "Message": "The client is not reading its messages",
        }
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert response["ResponseMetadata"]["RetryAttempts"] == 0
        remote = over_http(running.management_url)
        response = await asyncio.to_thread(flood, remote)
        # botocore's standard mode: 3 attempts in all, with a throttling backoff between.
        assert response["ResponseMetadata"]["RetryAttempts"] == 2
        assert response["ResponseMetadata"]["MaxAttemptsReached"] is True


# --- which calls are served in process ------------------------------------------------


async def test_with_the_setting_off_calls_go_over_http(gateway_factory: GatewayFactory) -> None:
    """in_process_management: false serves nothing in process; handlers still get answers."""
    running = await gateway_factory(routes=ROUTES, handlers={"in_process_management": False})
    before = inprocess.served_count()
    async with contextlib.AsyncExitStack() as stack:
        ws = await relay_between_two(stack, running)
        outcome = await ask(ws, op="get_connection", args={"ConnectionId": UNKNOWN_ID})
        assert outcome["error"] == "GoneException"
    assert inprocess.served_count() == before


@pytest.fixture
async def recorder() -> AsyncIterator[Callable[[str, int], Any]]:
    """Start plain HTTP servers that answer every management call 200 and record its path."""
    async with contextlib.AsyncExitStack() as servers:

        async def start(host: str, port: int) -> tuple[int, list[str]]:
            seen: list[str] = []

            async def answer(request: web.Request) -> web.Response:
                seen.append(f"{request.method} {request.raw_path}")
                return web.Response(headers={"x-amzn-RequestId": "from-the-recorder"})

            app = web.Application()
            app.router.add_route("*", "/{path:.*}", answer)
            return await servers.enter_async_context(serving(app, host, port)), seen

        yield start


async def test_another_port_or_host_goes_over_http(
    running: RunningGateway, recorder: Callable[[str, int], Any]
) -> None:
    """Only the gateway's own host:port pairs are served in process; the rest is HTTP."""
    other_port, on_other_port = await recorder("127.0.0.1", 0)
    # Same port as the gateway, another loopback address: the gateway does not listen there.
    _, on_other_host = await recorder("127.0.0.2", running.port)
    before = inprocess.served_count()
    for url in (f"http://127.0.0.1:{other_port}/dev", f"http://127.0.0.2:{running.port}/dev"):
        response = await asyncio.to_thread(
            client_for(url).post_to_connection, ConnectionId="abc=", Data=b"x"
        )
        assert response["ResponseMetadata"]["RequestId"] == "from-the-recorder"
    assert on_other_port == on_other_host == ["POST /dev/@connections/abc%3D"]
    assert inprocess.served_count() == before


async def test_https_and_every_loopback_name_are_served(running: RunningGateway) -> None:
    """The TLS listener's URLs are served too, by any name that reaches the listener."""
    tls = running.server.tls_port
    plain = running.port
    before = inprocess.served_count()
    for url in (
        f"https://localhost:{tls}/dev",
        f"https://127.0.0.1:{tls}/dev",
        f"http://localhost:{plain}/dev",
        f"HTTP://LOCALHOST:{plain}/dev",
    ):
        client = client_for(url)
        with pytest.raises(client.exceptions.GoneException):
            await asyncio.to_thread(client.get_connection, ConnectionId=UNKNOWN_ID)
    assert inprocess.served_count() == before + 4


async def test_without_credentials_botocore_raises_as_over_http(
    running: RunningGateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No credentials: the call is left to botocore, which refuses to send it unsigned."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    client = boto3.session.Session().client(
        "apigatewaymanagementapi", endpoint_url=running.management_url, region_name="us-east-1"
    )
    before = inprocess.served_count()
    with pytest.raises(NoCredentialsError):
        await asyncio.to_thread(client.get_connection, ConnectionId=UNKNOWN_ID)
    assert inprocess.served_count() == before


async def test_a_stopped_gateway_is_no_longer_served(gateway_factory: GatewayFactory) -> None:
    """After stop, calls to its URL go over HTTP again, and find nothing listening."""
    running = await gateway_factory(routes=ROUTES)
    client = client_for(running.management_url, retries={"total_max_attempts": 1})
    await running.server.stop()
    with pytest.raises(EndpointConnectionError):
        await asyncio.to_thread(client.get_connection, ConnectionId=UNKNOWN_ID)


# --- installing the hook --------------------------------------------------------------

_FRESH_PROCESS = """
import asyncio, sys
from wsgate.config.model import GatewayConfig
from wsgate.server import inprocess
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


async def main():
    config = GatewayConfig.model_validate(
        {{"server": {{"port": 0}}, "handlers": {{"path": {path!r}}},
          "routes": {{"$default": "{module}:handler"}}}}
    )
    server = GatewayServer(build_gateway(config))
    await server.start()
    try:
        print("botocore" in sys.modules)
        if "botocore" in sys.modules:
            import {module}
            client = {module}.SESSION.client(
                "apigatewaymanagementapi",
                endpoint_url=f"http://127.0.0.1:{{server.port}}/dev",
                region_name="us-east-1",
            )
            try:
                await asyncio.to_thread(client.get_connection, ConnectionId="AAAA")
            except client.exceptions.GoneException:
                print(inprocess.served_count())
    finally:
        await server.stop()


asyncio.run(main())
"""


def _run_fresh(tmp_path: Path, module: str, source: str) -> list[str]:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    script = _FRESH_PROCESS.format(path=str(tmp_path), module=module)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_gateway_whose_handlers_do_not_use_boto3_never_imports_botocore(
    tmp_path: Path,
) -> None:
    source = """
        def handler(event, context):
            return None
    """
    assert _run_fresh(tmp_path, "plain_handlers", source) == ["False"]


def test_sessions_made_while_handlers_import_have_the_hook(tmp_path: Path) -> None:
    """botocore first imported by a handler module: the hook joins it right then."""
    source = """
        import boto3

        SESSION = boto3.session.Session()  # at import time, as Lambda code often does


        def handler(event, context):
            return None
    """
    assert _run_fresh(tmp_path, "boto_handlers", source) == ["True", "1"]


_WITHOUT_A_NAME = """
import asyncio, logging
import boto3
import botocore.endpoint
from wsgate.config.model import GatewayConfig
from wsgate.server import inprocess
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer

logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")


async def main():
    config = GatewayConfig.model_validate(
        {{"server": {{"port": 0}}, "handlers": {{"path": {path!r}}},
          "routes": {{"$default": "plain_handlers:handler"}}}}
    )
    # A botocore without this name while the hook is installed; put back for its own use.
    kept = botocore.endpoint.convert_to_response_dict
    del botocore.endpoint.convert_to_response_dict
    gateway = build_gateway(config)
    botocore.endpoint.convert_to_response_dict = kept
    server = GatewayServer(gateway)
    await server.start()
    try:
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"http://127.0.0.1:{{server.port}}/dev",
            region_name="us-east-1",
        )
        try:
            await asyncio.to_thread(client.get_connection, ConnectionId="AAAA")
        except client.exceptions.GoneException:
            print("gone", inprocess.served_count())
    finally:
        await server.stop()


asyncio.run(main())
"""


def test_a_botocore_lacking_a_name_the_hook_uses_leaves_calls_on_http(tmp_path: Path) -> None:
    """One line names what is missing; boto3 calls still get their answers, over HTTP."""
    (tmp_path / "plain_handlers.py").write_text("def handler(event, context):\n    return None\n")
    script = _WITHOUT_A_NAME.format(path=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gone", "0"]
    [line] = done.stderr.splitlines()
    assert line.startswith("wsgate.inprocess: ")
    assert "botocore.endpoint.convert_to_response_dict" in line

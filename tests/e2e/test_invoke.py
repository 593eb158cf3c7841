"""Lambda Invoke between the API's functions, end to end: a real gateway, real
``awslambdaric`` workers whose unchanged ``boto3.client("lambda")`` reaches the gateway's
Invoke API through ``AWS_ENDPOINT_URL_LAMBDA``, and an in-process handler doing the same.

``caller`` (tests/e2e/functions/invoke-caller) invokes as its message says and answers
with what boto3 returned or raised; ``target`` and ``lonely`` (on no route) append every
event they get to a file, so that the test sees an ``Event`` invocation ran.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import pytest
import websockets

from tests.e2e.conftest import wait_for
from wsgate.config.model import GatewayConfig
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer
from wsgate.workers.invoke_api import ENDPOINT_VARIABLE


FUNCTIONS = Path(__file__).parent / "functions"
ARN = "arn:aws:lambda:us-east-1:123456789012:function"


@dataclass
class Running:
    server: GatewayServer
    record: Path

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/dev"

    def records(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [orjson.loads(line) for line in self.record.read_bytes().splitlines()]

    async def ask(self, message: dict[str, Any]) -> Any:
        """One message on a new connection; the answer's body, decoded."""
        async with websockets.connect(self.url()) as ws:
            await ws.send(orjson.dumps(message).decode())
            return orjson.loads(await asyncio.wait_for(ws.recv(), 30))


def function(folder: str, **settings: Any) -> dict[str, Any]:
    return {
        "runtime": "python3.12",
        "code": str(FUNCTIONS / folder),
        "handler": "app.lambda_handler",
        "concurrency": 2,
        **settings,
    }


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    record = tmp_path / "record"
    environment = {"RECORD": str(record)}
    raw = {
        "api": {"name": "invoke", "stage": "dev"},
        "server": {"host": "127.0.0.1", "port": 0},
        "handlers": {"path": str(FUNCTIONS / "invoke-inprocess")},
        "functions": {
            "caller": function("invoke-caller", timeout=20),
            "target": function("invoke-target", timeout=5, environment=environment),
            "lonely": function("invoke-target", timeout=5, environment=environment),
        },
        "routes": {
            "$default": {"function": "caller", "response": True},
            "inprocess": {"handler": "invoke_inprocess:invoke", "response": True},
            "target": {"function": "target"},
        },
    }
    server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
    await server.start()
    try:
        yield Running(server, record)
    finally:
        await server.stop()


async def test_request_response_by_name_gets_the_result(running: Running) -> None:
    """A worker's unchanged boto3 client invokes another function and gets its result."""
    answer = await running.ask({"function": "target", "payload": {"n": 1}})
    assert answer["status"] == 200
    assert answer["functionError"] is None
    assert answer["version"] == "$LATEST"
    assert answer["payload"] == {"echo": {"n": 1}, "function": "target"}
    assert running.records() == [{"event": {"n": 1}, "function": "target"}]


async def test_arns_and_the_latest_qualifier_name_the_function(running: Running) -> None:
    """By ARN with ``:$LATEST`` and by partial ARN, as by name."""
    for name in (f"{ARN}:target:$LATEST", "123456789012:function:target"):
        answer = await running.ask({"function": name, "payload": {"by": name}})
        assert answer["payload"]["echo"] == {"by": name}


async def test_an_event_invocation_runs(running: Running) -> None:
    """``Event``: 202 at once, and the function runs (it writes the record)."""
    answer = await running.ask({"function": "target", "type": "Event", "payload": {"e": 1}})
    assert answer["status"] == 202
    assert answer["payload"] is None
    await wait_for(lambda: running.records() == [{"event": {"e": 1}, "function": "target"}], 15)


async def test_a_function_on_no_route_is_invoked(running: Running) -> None:
    answer = await running.ask({"function": "lonely", "payload": [1, 2]})
    assert answer["payload"] == {"echo": [1, 2], "function": "lonely"}


async def test_an_unknown_function_raises_resource_not_found(running: Running) -> None:
    answer = await running.ask({"function": "nope", "payload": {}})
    assert answer["raised"] == "ResourceNotFoundException"
    assert answer["code"] == "ResourceNotFoundException"
    assert answer["status"] == 404
    assert answer["message"] == f"Function not found: {ARN}:nope"


async def test_a_function_error_is_a_function_error_in_the_response(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler raised: 200, ``FunctionError`` Unhandled, the runtime's error document;
    with ``Tail``, the invocation's log (what ``wsgate.function`` records: INFO here, as
    ``wsgate serve``'s default log level)."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    answer = await running.ask({"function": "target", "payload": {"raise": True}, "tail": True})
    assert answer["status"] == 200
    assert answer["functionError"] == "Unhandled"
    payload = answer["payload"]
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "target refused"
    assert payload["stackTrace"]
    tail = answer["log"]
    assert tail.startswith("START RequestId:") and "REPORT RequestId:" in tail
    assert "[ERROR]" in tail and "target refused" in tail


async def test_dry_run_is_204(running: Running) -> None:
    answer = await running.ask({"function": "target", "type": "DryRun"})
    assert answer["status"] == 204
    assert running.records() == []


async def test_an_in_process_handler_invokes_a_worker_function(running: Running) -> None:
    """The gateway's own environment points boto3 at the Invoke API."""
    assert os.environ[ENDPOINT_VARIABLE].startswith("http://127.0.0.1:")
    answer = await running.ask({"action": "inprocess", "function": "target", "payload": "hi"})
    assert answer == {"echo": "hi", "function": "target"}


async def test_boto3_from_outside_sees_lambdas_errors(running: Running) -> None:
    """The test's own boto3 (the same variable) gets the modelled exceptions."""
    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await asyncio.to_thread(client.invoke, FunctionName="nope")
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        await asyncio.to_thread(client.invoke, FunctionName="target", Payload=b"{not json")


CLIENT_CONTEXT = {
    "custom": {"tenant": "acme", "note": "héllo"},
    "env": {"locale": "fr-FR"},
    "client": {"app_title": "chat app"},
}


async def test_a_function_passes_its_client_context_on(running: Running) -> None:
    """A worker's boto3 ``invoke(ClientContext=...)``: the invoked Python function's
    ``context.client_context`` holds it (custom, env, client); an ``Event`` drops it."""
    answer = await running.ask(
        {"function": "target", "payload": {"n": 2}, "clientContext": CLIENT_CONTEXT}
    )
    assert answer["payload"]["clientContext"] == CLIENT_CONTEXT
    answer = await running.ask(
        {"function": "target", "type": "Event", "payload": {"n": 3}, "clientContext": {"a": 1}}
    )
    assert answer["status"] == 202
    await wait_for(lambda: len(running.records()) == 2, 15)
    assert running.records()[1] == {"event": {"n": 3}, "function": "target"}


async def test_the_client_context_reaches_python_and_node_functions(tmp_path: Path) -> None:
    """boto3 from the test itself, as a user's script would call Lambda: the Python
    function's ``context.client_context``, the Node.js function's ``context.clientContext``;
    a client context that is not base64 JSON is refused before anything runs."""
    record = tmp_path / "record"
    raw = {
        "api": {"name": "invoke", "stage": "dev"},
        "server": {"host": "127.0.0.1", "port": 0},
        "functions": {
            "target": function("invoke-target", environment={"RECORD": str(record)}),
            "node": {
                "runtime": "nodejs20.x",
                "code": str(FUNCTIONS / "node-context"),
                "handler": "index.handler",
            },
        },
        "routes": {"$default": {"function": "target"}},
    }
    server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
    await server.start()
    try:
        client = boto3.client(
            "lambda",
            region_name="us-east-1",
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )
        encoded = base64.b64encode(orjson.dumps(CLIENT_CONTEXT)).decode()

        async def invoke(name: str, context: str) -> Any:
            answer = await asyncio.to_thread(
                client.invoke, FunctionName=name, Payload=b'"hi"', ClientContext=context
            )
            return orjson.loads(answer["Payload"].read())

        python = await invoke("target", encoded)
        assert python["clientContext"] == CLIENT_CONTEXT
        node = await invoke("node", encoded)
        assert node == {"clientContext": CLIENT_CONTEXT, "echo": "hi"}
        with pytest.raises(client.exceptions.InvalidRequestContentException) as raised:
            await invoke("node", base64.b64encode(b"[1]").decode())
        assert raised.value.response["Error"]["Message"] == (
            "Client context must be a valid Base64-encoded JSON object."
        )
    finally:
        await server.stop()


async def test_an_in_process_lambda_client_made_at_import_reaches_the_invoke_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler module's ``boto3.client("lambda")`` made at import time is pointed at the
    Invoke API as a worker's is: the gateway names its port before it imports handlers.
    The variable the process had before (here a closed port) is what the client would use
    otherwise, and what the variable is again after the stop."""
    closed = "http://127.0.0.1:9"
    monkeypatch.setenv(ENDPOINT_VARIABLE, closed)
    raw = {
        "api": {"name": "invoke", "stage": "dev"},
        "server": {"host": "127.0.0.1", "port": 0},
        "handlers": {"path": str(FUNCTIONS / "invoke-inprocess")},
        "functions": {"target": function("invoke-target", environment={"RECORD": "/dev/null"})},
        "routes": {"$default": {"handler": "import_time_invoke:invoke", "response": True}},
    }
    server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
    assert os.environ[ENDPOINT_VARIABLE] == closed  # set for the import only
    await server.start()
    try:
        assert os.environ[ENDPOINT_VARIABLE] != closed
        answer = await Running(server, tmp_path / "record").ask(
            {"function": "target", "payload": "made at import"}
        )
        assert answer == {"echo": "made at import", "function": "target"}
    finally:
        await server.stop()
    assert os.environ[ENDPOINT_VARIABLE] == closed


async def test_the_variable_is_gone_after_stop(tmp_path: Path) -> None:
    raw = {
        "api": {"name": "invoke", "stage": "dev"},
        "server": {"host": "127.0.0.1", "port": 0},
        "functions": {"target": function("invoke-target")},
        "routes": {"$default": {"function": "target"}},
    }
    before = os.environ.get(ENDPOINT_VARIABLE)
    server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
    await server.start()
    assert os.environ[ENDPOINT_VARIABLE] != before
    await server.stop()
    assert os.environ.get(ENDPOINT_VARIABLE) == before

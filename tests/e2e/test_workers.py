"""Functions in worker processes behind the Lambda Runtime API, end to end: a real
gateway, real ``awslambdaric`` workers, a real ``websockets`` client.

The functions live in ``tests/e2e/functions/<name>/app.py`` (two of them named ``app``);
each invocation of ``alpha`` is appended to a file (``RECORD``), so the test sees what
ran, on which connection and in which process.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import wait_for
from wsgate.config.model import GatewayConfig
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer
from wsgate.workers.environment import EXECUTE_API, PASS_THROUGH


FUNCTIONS = Path(__file__).parent / "functions"

ROUTES: dict[str, Any] = {
    "$connect": {"function": "alpha"},
    "$disconnect": {"function": "alpha"},
    "$default": {"function": "alpha", "response": True},
    "beta": {"function": "beta", "response": True},
}

LAMBDA_VARIABLES = {
    "AWS_LAMBDA_RUNTIME_API",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "TZ",
    "PYTHONPATH",
    "_X_AMZN_TRACE_ID",  # set by the runtime for each invocation
}


@dataclass
class Running:
    server: GatewayServer
    record: Path

    def url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.server.port}/dev" + (f"?{query}" if query else "")

    def records(self, route_key: str | None = None) -> list[dict[str, Any]]:
        """What ``alpha`` ran so far, in order."""
        if not self.record.exists():
            return []
        lines = [orjson.loads(line) for line in self.record.read_bytes().splitlines()]
        return [line for line in lines if route_key is None or line["routeKey"] == route_key]

    def pids(self) -> set[int]:
        return {line["pid"] for line in self.records()}


Start = Callable[..., Any]


def function(folder: str, **settings: Any) -> dict[str, Any]:
    return {
        "runtime": "python3.11",
        "code": str(FUNCTIONS / folder),
        "handler": "app.lambda_handler",
        "concurrency": 3,
        **settings,
    }


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start gateways whose functions are alpha, beta and broken; all stop at the end."""
    record = tmp_path / "record"
    servers: list[GatewayServer] = []

    async def start(
        routes: dict[str, Any] | None = None,
        alpha: dict[str, Any] | None = None,
        broken: dict[str, Any] | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> Running:
        raw = {
            "api": {"name": "workers", "stage": "dev"},
            "server": {"host": "127.0.0.1", "port": 0},
            "functions": {
                "alpha": function(
                    "alpha",
                    **{
                        "timeout": 2,
                        "environment": {"GREETING": "from alpha", "RECORD": str(record)},
                        **(alpha or {}),
                    },
                ),
                "beta": function(
                    "beta",
                    runtime="python3.12",
                    environment={"GREETING": "from beta", "BETA_ONLY": "yes"},
                ),
                "broken": function("broken", **{"timeout": 3, **(broken or {})}),
            },
            "routes": ROUTES if routes is None else routes,
        }
        if authorizer is not None:
            raw["authorizer"] = authorizer
        server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
        await server.start()
        servers.append(server)
        return Running(server, record)

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


async def ask(ws: websockets.ClientConnection, message: dict[str, Any]) -> Any:
    """Send ``message``; the reply, JSON-decoded."""
    await ws.send(orjson.dumps(message).decode())
    reply = await asyncio.wait_for(ws.recv(), 10)
    try:
        return orjson.loads(reply)
    except orjson.JSONDecodeError:
        return reply


async def status_of(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, open_timeout=10):
            pass
    return int(info.value.response.status_code)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def test_connect_a_two_way_route_and_disconnect_run_in_workers(start: Start) -> None:
    """$connect, a message and $disconnect all run in alpha's workers; the message's
    result reaches the client; the worker sees Lambda's environment and nothing else."""
    running = await start()
    async with websockets.connect(running.url()) as ws:
        me = await ask(ws, {"action": "whoami"})
    await wait_for(lambda: len(running.records("$disconnect")) == 1)
    assert [line["routeKey"] for line in running.records()] == [
        "$connect",
        "$default",
        "$disconnect",
    ]
    assert len({line["connectionId"] for line in running.records()}) == 1
    assert me["function"] == "alpha" and me["greeting"] == "from alpha"
    assert me["module"] == str(FUNCTIONS / "alpha" / "app.py")
    assert me["cwd"] == str(FUNCTIONS / "alpha")
    assert me["memory"] == "128"
    assert me["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:alpha"
    assert 0 < me["remaining"] <= 2000
    assert me["pid"] != os.getpid()
    environment = set(me["env"])
    assert environment >= LAMBDA_VARIABLES - {"_X_AMZN_TRACE_ID"}
    # Set by the gateway itself: its certificate's trust for Node, its AWS-style name.
    given = {"NODE_EXTRA_CA_CERTS", EXECUTE_API}
    assert environment <= LAMBDA_VARIABLES | set(PASS_THROUGH) | given | {"GREETING", "RECORD"}


async def test_two_functions_own_modules_of_one_name_and_environments(start: Start) -> None:
    """alpha and beta each import their own ``app``, in their own process, and see only
    their own variables."""
    running = await start()
    async with websockets.connect(running.url()) as ws:
        alpha = await ask(ws, {"action": "whoami"})
        beta = await ask(ws, {"action": "beta"})
    assert (alpha["function"], beta["function"]) == ("alpha", "beta")
    assert alpha["module"] == str(FUNCTIONS / "alpha" / "app.py")
    assert beta["module"] == str(FUNCTIONS / "beta" / "app.py")
    assert (alpha["greeting"], beta["greeting"]) == ("from alpha", "from beta")
    assert (alpha["other"], beta["other"]) == (None, "yes")
    assert alpha["pid"] != beta["pid"]


@pytest.mark.parametrize("action", ["exit", "segfault", "raise"])
async def test_a_crash_costs_only_its_message(start: Start, action: str) -> None:
    """sys.exit(1), a segfault or an exception: the caller gets the error frame; its
    connection, the other connections and the gateway carry on; $disconnect runs once
    per connection."""
    running = await start()
    async with (
        websockets.connect(running.url()) as caller,
        websockets.connect(running.url()) as bystander,
    ):
        failure = await ask(caller, {"action": action})
        assert failure["message"] == "Internal server error"
        for ws in (caller, bystander):
            assert (await ask(ws, {"action": "whoami"}))["function"] == "alpha"
    await wait_for(lambda: len(running.records("$disconnect")) == 2)
    await asyncio.sleep(0.1)
    disconnected = [line["connectionId"] for line in running.records("$disconnect")]
    assert len(disconnected) == len(set(disconnected)) == 2


@pytest.mark.parametrize("action", ["sleep", "hang"])
async def test_a_timeout_or_a_hang_kills_its_worker_only(
    start: Start, caplog: pytest.LogCaptureFixture, action: str
) -> None:
    """Past the function's timeout the caller gets the timeout frame and the worker is
    killed (even one that ignores SIGTERM); everything else carries on."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    running = await start(alpha={"timeout": 1})
    async with (
        websockets.connect(running.url()) as caller,
        websockets.connect(running.url()) as bystander,
    ):
        late = await ask(caller, {"action": action, "seconds": 30})
        assert late["message"] == "Endpoint request timed out"
        [stuck] = [line["pid"] for line in running.records("$default")]
        await wait_for(lambda: not alive(stuck))
        for ws in (caller, bystander):
            assert (await ask(ws, {"action": "whoami"}))["pid"] != stuck
    assert "Task timed out after 1.00 seconds" in caplog.text
    await wait_for(lambda: len(running.records("$disconnect")) == 2)


@pytest.mark.parametrize(("fail", "status"), [("exit", 502), ("raise", 502), ("sleep", 504)])
async def test_connect_failing_in_its_worker(start: Start, fail: str, status: int) -> None:
    """$connect that exits or raises is 502, one that overruns is 504; no connection."""
    running = await start(alpha={"timeout": 1})
    assert await status_of(running.url(f"fail={fail}")) == status
    async with websockets.connect(running.url()) as ws:
        assert (await ask(ws, {"action": "whoami"}))["function"] == "alpha"
    await wait_for(lambda: len(running.records("$disconnect")) == 1)


async def test_init_errors_on_connect_and_on_a_message(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A function whose import raises: 502 on $connect; the error frame on a message,
    while other connections keep working; the traceback is logged once per failed init."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    broken = {"environment": {"BREAK": "raise"}}
    refusing = await start(routes={"$connect": {"function": "broken"}}, broken=broken)
    assert await status_of(refusing.url()) == 502
    routes = {**ROUTES, "broken": {"function": "broken", "response": True}}
    running = await start(routes=routes, broken=broken)
    async with (
        websockets.connect(running.url()) as caller,
        websockets.connect(running.url()) as bystander,
    ):
        failure = await ask(caller, {"action": "broken"})
        assert failure["message"] == "Internal server error"
        assert (await ask(bystander, {"action": "whoami"}))["function"] == "alpha"
        assert (await ask(caller, {"action": "whoami"}))["function"] == "alpha"
    failures = [r.getMessage() for r in caplog.records if "INIT failed" in r.getMessage()]
    assert len(failures) == 2  # one per failed init: one per gateway here
    assert all("RuntimeError: cannot start: no database" in text for text in failures)
    assert all("Traceback" in text and "broken/app.py" in text for text in failures)


async def test_init_that_hangs_is_a_timeout_on_connect(start: Start) -> None:
    """An import that never ends: $connect gets 504 at the function's timeout."""
    running = await start(
        routes={"$connect": {"function": "broken"}},
        broken={"timeout": 1, "environment": {"BREAK": "hang"}},
    )
    assert await status_of(running.url()) == 504


async def test_authorizer_function(start: Start) -> None:
    """A REQUEST authorizer in a worker: ``Unauthorized`` is 401, an Allow opens the
    connection and its context reaches later events."""
    authorizer = {"function": "alpha", "identity_source": "route.request.querystring.token"}
    raw_routes = {"$default": {"function": "alpha", "response": True}}
    running = await start(routes=raw_routes, authorizer=authorizer)
    assert await status_of(running.url("token=nope")) == 401
    async with websockets.connect(running.url("token=letmein")) as ws:
        me = await ask(ws, {"action": "whoami"})
    assert me["authorizer"]["principalId"] == "ann"
    assert me["authorizer"]["checkedBy"] == "alpha"


async def test_log_lines_like_cloudwatch(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """START, the function's output, END and REPORT, each with the function and request
    id; Init Duration on the cold start only."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    running = await start()
    async with websockets.connect(running.url()) as ws:
        await ask(ws, {"action": "whoami"})
        await ask(ws, {"action": "whoami"})
    [connect, first, second] = [line["requestId"] for line in running.records()][:3]
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgate.function"]

    def of(request_id: str) -> list[str]:
        prefix = f"alpha {request_id} "
        return [line[len(prefix) :] for line in lines if line.startswith(prefix)]

    for request_id in (first, second):
        start_line, printed, end, report = of(request_id)
        assert start_line == f"START RequestId: {request_id} Version: $LATEST"
        assert printed == "alpha handling whoami"
        assert end == f"END RequestId: {request_id}"
        assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
        assert "\tBilled Duration: " in report and "\tMemory Size: 128 MB\t" in report
        assert "\tMax Memory Used: " in report
    reports = [of(request_id)[-1] for request_id in (connect, first, second)]
    assert ["Init Duration" in report for report in reports] == [True, False, False]


async def test_runtime_api_refuses_an_unknown_request_id_from_a_worker(start: Start) -> None:
    """A worker answering an invocation it was not given is refused 400 InvalidRequestID."""
    running = await start()
    async with websockets.connect(running.url()) as ws:
        answer = await ask(ws, {"action": "meddle", "id": "not-mine"})
        assert answer["status"] == 400
        assert orjson.loads(answer["body"]) == {
            "errorMessage": "Invalid request ID",
            "errorType": "InvalidRequestID",
        }


async def test_stopping_the_gateway_leaves_no_process(start: Start) -> None:
    """Connections close, their $disconnect runs on a worker, then every worker is
    stopped, one that ignores SIGTERM included."""
    running = await start()
    async with websockets.connect(running.url()) as ws:
        await ask(ws, {"action": "ignore_sigterm"})
        await running.server.stop()
    assert len(running.records("$disconnect")) == 1
    pids = running.pids()
    assert pids and not any(alive(pid) for pid in pids)

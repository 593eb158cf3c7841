"""Node.js functions in worker processes, end to end: a real gateway, real
``aws-lambda-ric`` workers under ``node``, a Python function beside them, a real
``websockets`` client.

The functions are ``tests/e2e/functions/node-alpha/index.mjs`` (an ES module that records
each invocation in the file named by ``RECORD``), ``node-cjs/index.js`` (CommonJS) and
``node-broken/index.mjs`` (throws while it loads). These tests never skip: without Node or
the runtime client (``make node``) they fail, saying so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.e2e.conftest import wait_for
from tests.e2e.test_workers import (
    FUNCTIONS,
    LAMBDA_VARIABLES,
    Running,
    Start,
    alive,
    ask,
    function,
    status_of,
)
from wsgate.config.model import GatewayConfig
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer
from wsgate.workers.environment import EXECUTE_API, PASS_THROUGH
from wsgate.workers.runtimes import RUNTIMES, node_runtime_dir


ROUTES: dict[str, Any] = {
    "$connect": {"function": "nalpha"},
    "$disconnect": {"function": "nalpha"},
    "$default": {"function": "nalpha", "response": True},
    "cjs": {"function": "ncjs", "response": True},
    "py": {"function": "alpha", "response": True},
}

NODE_VARIABLES = (LAMBDA_VARIABLES - {"PYTHONPATH"}) | {"NODE_PATH"}


@pytest.fixture(autouse=True)
def node_runtime_installed() -> None:
    """Fail (never skip) when node or aws-lambda-ric cannot start."""
    missing = RUNTIMES["nodejs20.x"].installed()
    if missing is not None:
        pytest.fail(f"Node.js workers cannot run here: {missing}", pytrace=False)


def node(folder: str, runtime: str = "nodejs20.x", **settings: Any) -> dict[str, Any]:
    return function(folder, runtime=runtime, handler="index.handler", **settings)


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start gateways with Node functions nalpha, ncjs, nbroken and Python's alpha."""
    record = tmp_path / "record"
    servers: list[GatewayServer] = []

    async def start(
        routes: dict[str, Any] | None = None, nalpha: dict[str, Any] | None = None
    ) -> Running:
        raw = {
            "api": {"name": "workers", "stage": "dev"},
            "server": {"host": "127.0.0.1", "port": 0},
            "functions": {
                "nalpha": node(
                    "node-alpha",
                    **{
                        "timeout": 2,
                        "environment": {"GREETING": "from nalpha", "RECORD": str(record)},
                        **(nalpha or {}),
                    },
                ),
                "ncjs": node(
                    "node-cjs",
                    runtime="nodejs18.x",
                    environment={"GREETING": "from ncjs", "CJS_ONLY": "yes"},
                ),
                "nbroken": node("node-broken", runtime="nodejs22.x"),
                "alpha": function(
                    "alpha", environment={"GREETING": "from alpha", "RECORD": str(record)}
                ),
            },
            "routes": ROUTES if routes is None else routes,
        }
        server = GatewayServer(build_gateway(GatewayConfig.model_validate(raw)))
        await server.start()
        servers.append(server)
        return Running(server, record)

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


async def test_node_functions_beside_a_python_function(start: Start) -> None:
    """$connect, a two-way route and $disconnect run in the ES module's workers, another
    route in a CommonJS function's, another in Python's; each sees Lambda's environment
    for its runtime, its own variables, and the runtime's AWS SDK without bundling it."""
    running = await start()
    async with websockets.connect(running.url()) as ws:
        me = await ask(ws, {"action": "whoami"})
        cjs = await ask(ws, {"action": "cjs"})
        python = await ask(ws, {"action": "py"})
    await wait_for(lambda: len(running.records("$disconnect")) == 1)
    assert [line["routeKey"] for line in running.records()] == [
        "$connect",
        "$default",
        "py",
        "$disconnect",
    ]
    assert python == "alpha got py"
    code = FUNCTIONS / "node-alpha"
    assert me["function"] == "nalpha" and me["greeting"] == "from nalpha"
    assert me["other"] is None
    assert me["module"] == (code / "index.mjs").as_uri()
    assert me["cwd"] == str(code)
    assert me["sdk"] == "function"
    assert me["memory"] == "128"
    assert me["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:nalpha"
    assert me["requestId"] == running.records("$default")[0]["requestId"]
    assert 0 < me["remaining"] <= 2000
    assert me["values"] == {
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs20.x",
        "NODE_PATH": f"{node_runtime_dir() / 'node_modules'}:{code}",
        "LAMBDA_TASK_ROOT": str(code),
        "_HANDLER": "index.handler",
    }
    environment = set(me["env"])
    assert environment >= NODE_VARIABLES - {"_X_AMZN_TRACE_ID"}
    # Set by the gateway itself: its certificate's trust for Node, its AWS-style name.
    given = {"NODE_EXTRA_CA_CERTS", EXECUTE_API}
    assert environment <= NODE_VARIABLES | set(PASS_THROUGH) | given | {"GREETING", "RECORD"}
    assert cjs["function"] == "ncjs" and cjs["greeting"] == "from ncjs"
    assert cjs["other"] == "yes" and cjs["sdk"] == "function"
    assert cjs["module"] == str(FUNCTIONS / "node-cjs" / "index.js")
    assert cjs["executionEnv"] == "AWS_Lambda_nodejs18.x"
    assert len({me["pid"], cjs["pid"]}) == 2


@pytest.mark.parametrize("action", ["throw", "exit"])
async def test_a_throw_or_an_exit_costs_only_its_message(start: Start, action: str) -> None:
    """A thrown error or process.exit(1): the caller gets the error frame; both
    connections and the gateway carry on; $disconnect runs once per connection."""
    running = await start()
    async with (
        websockets.connect(running.url()) as caller,
        websockets.connect(running.url()) as bystander,
    ):
        failure = await ask(caller, {"action": action})
        assert failure["message"] == "Internal server error"
        for ws in (caller, bystander):
            assert (await ask(ws, {"action": "whoami"}))["function"] == "nalpha"
    await wait_for(lambda: len(running.records("$disconnect")) == 2)
    await asyncio.sleep(0.1)
    disconnected = [line["connectionId"] for line in running.records("$disconnect")]
    assert len(disconnected) == len(set(disconnected)) == 2


async def test_a_timeout_kills_its_worker_only(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the function's timeout the caller gets the timeout frame, the node process is
    killed, and the next invocation gets a new one."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    running = await start(nalpha={"timeout": 1})
    async with (
        websockets.connect(running.url()) as caller,
        websockets.connect(running.url()) as bystander,
    ):
        late = await ask(caller, {"action": "sleep", "seconds": 30})
        assert late["message"] == "Endpoint request timed out"
        [stuck] = [line["pid"] for line in running.records("$default")]
        await wait_for(lambda: not alive(stuck))
        for ws in (caller, bystander):
            assert (await ask(ws, {"action": "whoami"}))["pid"] != stuck
    assert "Task timed out after 1.00 seconds" in caplog.text
    await wait_for(lambda: len(running.records("$disconnect")) == 2)


@pytest.mark.parametrize(("fail", "status"), [("exit", 502), ("throw", 502), ("sleep", 504)])
async def test_connect_failing_in_a_node_worker(start: Start, fail: str, status: int) -> None:
    """$connect that exits or throws is 502, one that overruns is 504; no connection."""
    running = await start(nalpha={"timeout": 1})
    assert await status_of(running.url(f"fail={fail}")) == status
    async with websockets.connect(running.url()) as ws:
        assert (await ask(ws, {"action": "whoami"}))["function"] == "nalpha"
    await wait_for(lambda: len(running.records("$disconnect")) == 1)


async def test_init_error_on_connect_and_on_a_message(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A module that throws at its top level: 502 on $connect, the error frame on a
    message while other connections keep working; the runtime's error is logged."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    refusing = await start(routes={"$connect": {"function": "nbroken"}})
    assert await status_of(refusing.url()) == 502
    running = await start(routes={**ROUTES, "broken": {"function": "nbroken", "response": True}})
    async with (
        websockets.connect(running.url()) as caller,
        websockets.connect(running.url()) as bystander,
    ):
        failure = await ask(caller, {"action": "broken"})
        assert failure["message"] == "Internal server error"
        assert (await ask(bystander, {"action": "whoami"}))["function"] == "nalpha"
        assert (await ask(caller, {"action": "cjs"}))["function"] == "ncjs"
    failures = [r.getMessage() for r in caplog.records if "INIT failed" in r.getMessage()]
    assert len(failures) == 2  # one per failed init: one per gateway here
    assert all("cannot start: no database" in text for text in failures)


async def test_log_lines_of_a_node_function(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """START, what console.log printed (in the Node runtime's own format), END, REPORT."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    running = await start()
    async with websockets.connect(running.url()) as ws:
        await ask(ws, {"action": "hello"})
    [request_id] = [line["requestId"] for line in running.records("$default")]
    prefix = f"nalpha {request_id} "
    lines = [
        r.getMessage()[len(prefix) :]
        for r in caplog.records
        if r.name == "wsgate.function" and r.getMessage().startswith(prefix)
    ]
    start_line, printed, end, report = lines
    assert start_line == f"START RequestId: {request_id} Version: $LATEST"
    assert printed.endswith(f"\t{request_id}\tINFO\tnode-alpha handling hello")
    assert end == f"END RequestId: {request_id}"
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")

"""What a worker's environment holds: Lambda's variables, credentials, little else."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import wsgate.workers
from wsgate.workers.environment import (
    EXECUTE_API,
    PASS_THROUGH,
    PLACEHOLDER_CREDENTIALS,
    log_stream_name,
    worker_environment,
)
from wsgate.workers.runtimes import RUNTIMES
from wsgate.workers.spec import FunctionSpec


SPEC = FunctionSpec(
    name="chat",
    runtime="python3.12",
    code=Path("/srv/chat"),
    handler="app.lambda_handler",
    timeout=3,
    memory_size=256,
    environment={"TABLE": "chat"},
    concurrency=2,
    idle_timeout=300,
    region="eu-west-1",
    account_id="111122223333",
)

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "LANG": "C.UTF-8",
    "SECRET_OF_THE_GATEWAY": "x",
    "PYTHONPATH": "/gateway/src",
    "VIRTUAL_ENV": "/gateway/.venv",
    "AWS_LAMBDA_MAX_CONCURRENCY": "8",
    "_LAMBDA_TELEMETRY_LOG_FD": "3",
}


def environment(parent: dict[str, str] | None = None) -> dict[str, str]:
    return worker_environment(
        SPEC,
        RUNTIMES["python3.12"],
        runtime_api="127.0.0.1:4567",
        log_stream="2026/12/01/[$LATEST]" + "0" * 32,
        parent=PARENT if parent is None else parent,
    )


def test_lambdas_variables() -> None:
    """Every variable Lambda sets for a function, with Lambda's forms."""
    env = environment()
    assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:4567"
    assert env["_HANDLER"] == "app.lambda_handler"
    assert env["LAMBDA_TASK_ROOT"] == env["PYTHONPATH"] == "/srv/chat"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "chat"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/chat"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].startswith("2026/12/01/[$LATEST]")
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["TZ"] == "UTC"
    assert env["TABLE"] == "chat"


def test_nothing_else_of_the_gateway() -> None:
    """Only the pass-through variables are inherited; never the runtime-mode switches."""
    env = environment()
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/me" and env["LANG"] == "C.UTF-8"
    for name in ("SECRET_OF_THE_GATEWAY", "VIRTUAL_ENV"):
        assert name not in env
    assert "AWS_LAMBDA_MAX_CONCURRENCY" not in env
    assert "_LAMBDA_TELEMETRY_LOG_FD" not in env
    assert env["PYTHONPATH"] == "/srv/chat"
    assert set(PASS_THROUGH) >= {"PATH", "HOME", "LANG"}


def test_lambdas_defaults_without_the_gateways() -> None:
    """A gateway without PATH or LANG still gives its workers Lambda's."""
    env = environment({})
    assert env["LANG"] == "en_US.UTF-8"
    assert env["PATH"]
    assert "HOME" not in env


def test_credentials_of_the_gateway_or_placeholders() -> None:
    """The gateway's key pair and token when it has a pair, placeholders otherwise."""
    env = environment(
        {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    )
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]) == (
        "AKIA",
        "s",
        "t",
    )
    env = environment({"AWS_ACCESS_KEY_ID": "AKIA"})
    assert {k: env[k] for k in PLACEHOLDER_CREDENTIALS} == PLACEHOLDER_CREDENTIALS
    assert "AWS_SESSION_TOKEN" not in env


def test_where_the_gateways_aws_style_name_leads() -> None:
    """Given only when a gateway published its name, for the worker's preload."""
    assert EXECUTE_API not in environment()
    env = worker_environment(
        SPEC,
        RUNTIMES["python3.12"],
        runtime_api="127.0.0.1:4567",
        log_stream="2026/12/01/[$LATEST]" + "0" * 32,
        parent=PARENT,
        execute_api="abc.execute-api.eu-west-1.amazonaws.com=127.0.0.1:8080",
    )
    assert env[EXECUTE_API] == "abc.execute-api.eu-west-1.amazonaws.com=127.0.0.1:8080"


def test_log_stream_name_has_lambdas_form() -> None:
    """``YYYY/MM/DD/[$LATEST]`` and 32 hex digits, a new one each time."""
    name = log_stream_name(datetime(2026, 12, 1, tzinfo=UTC))
    assert re.fullmatch(r"2026/12/01/\[\$LATEST\][0-9a-f]{32}", name)
    assert log_stream_name() != log_stream_name()


def test_python_runtimes_run_awslambdaric_with_this_interpreter() -> None:
    """Every python runtime is awslambdaric under sys.executable, handler as argv[1],
    through the preload that runs it as ``-m`` would (workers.endpoints)."""
    preload = Path(wsgate.workers.__file__).parent / "preload" / "awslambdaric_main.py"
    for name, kind in RUNTIMES.items():
        if not name.startswith("python3."):
            continue  # the nodejs rows: tests/workers/test_node.py
        assert kind.command("app.h") == [sys.executable, str(preload), "app.h"]
        assert kind.execution_env == f"AWS_Lambda_{name}"
        assert kind.installed() is None

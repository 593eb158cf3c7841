"""The Node.js rows of the runtime table: aws-lambda-ric under node, the SDK on NODE_PATH,
a start-up error that says how to install what is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.workers.test_environment import PARENT, SPEC
from wsgate.config.model import FunctionConfig
from wsgate.exceptions import ConfigError
from wsgate.workers.environment import worker_environment
from wsgate.workers.runtimes import NODE_RUNTIME_ENV, RUNTIMES, node_runtime_dir, runtime_kind


NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x")
CHECKOUT_RUNTIME = Path(__file__).resolve().parents[2] / "runtimes" / "node"


def test_a_row_per_nodejs_runtime() -> None:
    """node runs the pinned client's bin with the hooks preloaded, the handler as argv[2];
    AWS_EXECUTION_ENV names the runtime."""
    assert node_runtime_dir() == CHECKOUT_RUNTIME
    for name in NODE_RUNTIMES:
        kind = RUNTIMES[name]
        assert kind.execution_env == f"AWS_Lambda_{name}"
        assert kind.command("index.handler") == [
            shutil.which("node"),
            f"--require={CHECKOUT_RUNTIME / 'execute-api.cjs'}",
            f"--import={(CHECKOUT_RUNTIME / 'node-path.mjs').as_uri()}",
            str(CHECKOUT_RUNTIME / "node_modules" / "aws-lambda-ric" / "bin" / "index.mjs"),
            "index.handler",
        ]
        assert kind.import_path(Path("/srv/chat")) == {
            "NODE_PATH": f"{CHECKOUT_RUNTIME / 'node_modules'}:/srv/chat"
        }


def test_the_client_is_installed_here() -> None:
    """CI installs it (make node): its absence is a failure, never a skip."""
    for name in NODE_RUNTIMES:
        assert RUNTIMES[name].installed() is None


def test_a_node_workers_environment() -> None:
    """Lambda's variables with the Node runtime's values; no PYTHONPATH."""
    env = worker_environment(
        SPEC,
        RUNTIMES["nodejs22.x"],
        runtime_api="127.0.0.1:4567",
        log_stream="2026/12/01/[$LATEST]" + "0" * 32,
        parent=PARENT,
    )
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs22.x"
    assert env["NODE_PATH"] == f"{CHECKOUT_RUNTIME / 'node_modules'}:/srv/chat"
    assert env["_HANDLER"] == "app.lambda_handler"
    assert env["LAMBDA_TASK_ROOT"] == "/srv/chat"
    assert "PYTHONPATH" not in env


def test_missing_client_is_a_start_up_error_naming_make_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime folder without the built client: the error names the key and `make node`."""
    monkeypatch.setenv(NODE_RUNTIME_ENV, str(tmp_path))
    assert node_runtime_dir() == tmp_path
    with pytest.raises(ConfigError) as info:
        runtime_kind("nodejs20.x", where="functions.chat.runtime")
    text = str(info.value)
    assert text.startswith("functions.chat.runtime: nodejs20.x workers cannot start: ")
    assert f"aws-lambda-ric is not installed in {tmp_path}" in text
    assert "make node" in text and f"npm ci --prefix {tmp_path}" in text


def test_missing_node_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="node is not on the gateway's PATH"):
        runtime_kind("nodejs18.x", where="functions.chat.runtime")


@pytest.mark.parametrize("runtime", NODE_RUNTIMES)
def test_config_accepts_the_nodejs_runtimes(runtime: str) -> None:
    config = FunctionConfig.model_validate(
        {"runtime": runtime, "code": "functions/chat", "handler": "index.handler"}
    )
    assert config.runtime == runtime


def test_config_refuses_other_nodejs_runtimes() -> None:
    with pytest.raises(ValueError, match="nodejs20.x"):
        FunctionConfig.model_validate(
            {"runtime": "nodejs16.x", "code": "functions/chat", "handler": "index.handler"}
        )

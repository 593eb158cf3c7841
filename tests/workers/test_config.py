"""``functions:`` in wsgate.yaml: the keys, their defaults, and errors that name the key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wsgate.config.files import parse_config
from wsgate.config.model import FUNCTION_RUNTIMES, FunctionConfig, GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.server.gateway import build_gateway
from wsgate.workers import FunctionIntegration
from wsgate.workers.runtimes import RUNTIMES


FUNCTION = "functions:\n  chat: {runtime: python3.12, code: fn, handler: app.lambda_handler}\n"


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "wsgate.yaml", Path("/base"))
    return str(caught.value)


def test_defaults_are_lambdas() -> None:
    """Timeout 3 s, 128 MB, no environment; concurrency 10 and 5 idle minutes."""
    config = parse_config(FUNCTION, "wsgate.yaml", Path("/base"))
    function = config.functions["chat"]
    assert function == FunctionConfig(
        runtime="python3.12", code=Path("/base/fn"), handler="app.lambda_handler"
    )
    assert (function.timeout, function.memory_size, function.environment) == (3, 128, {})
    assert (function.concurrency, function.idle_timeout) == (10, 300)


def test_runtimes_are_one_table() -> None:
    """The config accepts exactly the runtimes the workers know how to start."""
    assert set(FUNCTION_RUNTIMES) == set(RUNTIMES)


def test_code_is_relative_to_the_config_file() -> None:
    assert parse_config(FUNCTION, "wsgate.yaml", Path("/base")).functions["chat"].code == Path(
        "/base/fn"
    )


def test_routes_and_authorizer_name_a_function() -> None:
    """``{function: NAME}`` beside every existing form of a route."""
    config = parse_config(
        FUNCTION + "routes:\n  $connect: {function: chat}\n  echo: m:f\n"
        "  send: {handler: m:g, response: true}\n"
        "authorizer: {function: chat, identity_source: route.request.querystring.token}\n",
        "wsgate.yaml",
        Path("/base"),
    )
    assert config.routes["$connect"].function == "chat"
    assert config.routes["$connect"].handler is None
    assert config.routes["echo"].handler == "m:f"
    assert config.authorizer is not None and config.authorizer.type == "request"
    assert config.authorizer.function == "chat"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "functions:\n  chat: {runtime: python3.9, code: fn, handler: app.h}\n",
            "functions.chat.runtime: expected 'python3.11' or 'python3.12' or 'python3.13' or "
            "'nodejs18.x' or 'nodejs20.x' or 'nodejs22.x', got 'python3.9'",
        ),
        ("functions:\n  chat: {code: fn, handler: app.h}\n", "functions.chat.runtime: required"),
        (
            "functions:\n  chat: {runtime: python3.12, code: fn, handler: apph}\n",
            "functions.chat.handler: invalid handler 'apph': expected Lambda's module.function",
        ),
        (
            "functions:\n  chat: {runtime: python3.12, code: fn, handler: 'app:h'}\n",
            "functions.chat.handler: invalid handler",
        ),
        (
            "functions:\n  bad name: {runtime: python3.12, code: fn, handler: app.h}\n",
            "functions.bad name: invalid function name 'bad name'",
        ),
        (
            FUNCTION.replace("}", ", environment: {AWS_REGION: x}}"),
            "functions.chat.environment.AWS_REGION: AWS_REGION is reserved",
        ),
        (
            FUNCTION.replace("}", ", environment: {AWS_LAMBDA_MAX_CONCURRENCY: 4}}"),
            "functions.chat.environment.AWS_LAMBDA_MAX_CONCURRENCY: AWS_LAMBDA_MAX_CONCURRENCY "
            "cannot be set",
        ),
        (FUNCTION.replace("}", ", timeout: 901}"), "functions.chat.timeout: expected a number"),
        (FUNCTION.replace("}", ", memory_size: 64}"), "functions.chat.memory_size: expected"),
        (FUNCTION.replace("}", ", concurrency: 0}"), "functions.chat.concurrency: expected"),
        (FUNCTION.replace("}", ", idle_timeout: 0}"), "functions.chat.idle_timeout: expected"),
        (FUNCTION.replace("}", ", colde: 1}"), "functions.chat.colde: unknown key"),
        (
            "routes:\n  $connect: {function: chat}\n",
            "routes.$connect.function: unknown function 'chat' (functions: none are defined)",
        ),
        (
            FUNCTION + "routes:\n  $connect: {function: chta}\n",
            "routes.$connect.function: unknown function 'chta' (functions: chat)",
        ),
        (
            FUNCTION + "routes:\n  $connect: {function: chat, handler: m:f}\n",
            "routes.$connect.function: set handler or function, not both",
        ),
        (
            FUNCTION + "authorizer: {function: nope}\n",
            "authorizer.function: unknown function 'nope' (functions: chat)",
        ),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    assert error(text).startswith(f"wsgate.yaml: {message}")


def test_a_route_naming_a_function_gets_the_shorter_timeout(tmp_path: Path) -> None:
    """A function's integration is bounded by the route's timeout and the function's."""
    config = GatewayConfig.model_validate(
        {
            "functions": {
                "chat": {"runtime": "python3.11", "code": str(tmp_path), "handler": "app.h"}
            },
            "routes": {
                "$connect": {"function": "chat"},
                "quick": {"function": "chat", "timeout": 1},
            },
        }
    )
    gateway = build_gateway(config)
    try:
        connect = gateway.routes["$connect"].handler.integration
        quick = gateway.routes["quick"].handler.integration
        assert isinstance(connect, FunctionIntegration) and connect.timeout == 3
        assert isinstance(quick, FunctionIntegration) and quick.timeout == 1
        assert gateway.functions is not None
        assert not any(pool.workers for pool in gateway.functions.pools.values())
    finally:
        gateway.runners.threads.shutdown()


def test_a_missing_code_folder_stops_start_up(tmp_path: Path) -> None:
    config = GatewayConfig.model_validate(
        {
            "functions": {
                "chat": {"runtime": "python3.11", "code": str(tmp_path / "no"), "handler": "a.h"}
            },
        }
    )
    with pytest.raises(ConfigError, match=r"functions\.chat\.code: no such folder"):
        build_gateway(config)


def test_a_missing_runtime_client_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without awslambdaric the error says how to install it."""
    monkeypatch.setitem(sys.modules, "awslambdaric", None)
    config = GatewayConfig.model_validate(
        {"functions": {"chat": {"runtime": "python3.13", "code": str(tmp_path), "handler": "a.h"}}}
    )
    with pytest.raises(
        ConfigError, match=r"functions\.chat\.runtime: .*pip install 'wsgate\[workers\]'"
    ):
        build_gateway(config)

"""serverless.yml services translated to a gateway config."""

from __future__ import annotations

import pytest

from tests.project.conftest import FIXTURES, Loader, notice_keys
from wsgate.config.model import RequestAuthorizerConfig
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions, load_project


def test_sample_service_maps_functions_routes_and_authorizer() -> None:
    """The chat service: handlers, defaults from provider, environment, authorizer."""
    path = FIXTURES / "sls-chat" / "serverless.yml"
    project = load_project(path, ProjectOptions(environ={"RECORD": "/tmp/r"}))
    config = project.config
    assert (config.api.name, config.api.stage, config.api.region) == (
        "slschat-ws",
        "dev",
        "eu-west-1",
    )
    assert {k: (r.function, r.response) for k, r in config.routes.items()} == {
        "$connect": ("connect", False),
        "$disconnect": ("disconnect", False),
        "$default": ("default", True),
        "sendmessage": ("sendMessage", True),
    }
    assert isinstance(config.authorizer, RequestAuthorizerConfig)
    assert config.authorizer.function == "auth"
    assert config.authorizer.identity_source == ["route.request.querystring.token"]
    send = config.functions["sendMessage"]
    assert send.code == FIXTURES / "sls-chat"
    assert (send.handler, send.runtime, send.timeout, send.memory_size) == (
        "src/chat.send_message",
        "python3.12",
        10,
        256,
    )
    assert send.environment == {
        "TABLE_NAME": "slschat-dev-connections",
        "RECORD": "/tmp/r",
        "SETTINGS_COLOR": "blue",
    }
    default = config.functions["default"]
    assert default.timeout == 5
    assert default.environment["TABLE_REF"] == "slschat-dev-connections"
    # On no websocket event: served through the Invoke API by its deployed name.
    assert config.functions["cleanup"].deployed_name == "slschat-dev-cleanup"
    notices = notice_keys(project)
    assert "Invoke API as slschat-dev-cleanup" in notices["functions.cleanup"]
    assert "IAM" in notices["provider.iam"]
    assert "not created" in notices["resources.Resources.ConnectionsTable"]


def test_stage_option() -> None:
    """--stage is ${opt:stage} and ${sls:stage}."""
    path = FIXTURES / "sls-chat" / "serverless.yml"
    config = load_project(path, ProjectOptions(stage="prod", environ={})).config
    assert config.api.stage == "prod"
    assert config.functions["connect"].environment["TABLE_NAME"] == "slschat-prod-connections"


SERVICE = """\
service: svc
provider:
  name: aws
  runtime: python3.11
functions:
  main:
    handler: app.handler
    events:
      - websocket:
          route: $connect
          authorizer:
            arn: arn:aws:lambda:us-east-1:123456789012:function:svc-dev-auth
      - websocket: $default
  auth:
    handler: app.auth
"""


def test_defaults_and_authorizer_arn(project: Loader) -> None:
    """Framework defaults (6 s, 1024 MB), the default identity source, an ARN in the service."""
    config = project(SERVICE, name="serverless.yml").config
    main = config.functions["main"]
    assert (main.timeout, main.memory_size, main.runtime) == (6, 1024, "python3.11")
    assert config.api.name == "dev-svc-websockets"
    assert isinstance(config.authorizer, RequestAuthorizerConfig)
    assert config.authorizer.function == "auth"
    assert config.authorizer.identity_source == ["route.request.header.Auth"]


def test_not_honoured_keys_are_named(project: Loader) -> None:
    """Plugins, VPC and an authorizer off $connect are notices."""
    text = SERVICE.replace("provider:", "plugins: [serverless-offline]\nprovider:\n  vpc: {}")
    text = text.replace("- websocket: $default", "- websocket: {route: x, authorizer: auth}")
    notices = notice_keys(project(text, name="serverless.yml"))
    assert "plugins are not run" in notices["plugins"]
    assert "VPC" in notices["provider.vpc"]
    assert "$connect only" in notices["functions.main.events[1].websocket.authorizer"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("runtime: python3.11", "runtime: java21"),
            r"provider\.runtime: runtime 'java21' cannot be run",
        ),
        (
            ("  runtime: python3.11\n", ""),
            r"functions\.main\.runtime: required \(or provider\.runtime\)",
        ),
        (
            ("- websocket: $default", "- websocket: $connect"),
            r"events\[1\]\.websocket: route '\$connect' is already",
        ),
        (
            ("function:svc-dev-auth", "function:other"),
            r"authorizer\.arn: .* is not a function of this service",
        ),
        (("name: aws", "name: google"), r"provider\.name: expected aws"),
        (
            ("handler: app.handler", "handler: ${env:HANDLER}"),
            r"functions\.main\.handler: cannot resolve",
        ),
        (
            (
                "- websocket: $default",
                "- websocket: {route: x, routeResponseSelectionExpression: $x}",
            ),
            r"routeResponseSelectionExpression: expected \$default",
        ),
    ],
)
def test_errors_name_the_service_key(
    project: Loader, change: tuple[str, str], message: str
) -> None:
    """A problem names serverless.yml and its key path."""
    with pytest.raises(ConfigError, match=r"serverless\.yml: .*" + message):
        project(SERVICE.replace(*change), name="serverless.yml")

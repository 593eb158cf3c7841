"""A stage's DefaultRouteSettings and RouteSettings throttles as api.throttle and
routes.<key>.throttle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.project.conftest import FIXTURES, Loader, notice_keys
from wsgate.cli import main
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions, load_project


def test_sam_api_stage_throttles(capsys: pytest.CaptureFixture[str]) -> None:
    """The SAM API's settings: the stage's default, one route's own, an unused route key."""
    path = FIXTURES / "sam-wsapi" / "template.yaml"
    project = load_project(path, ProjectOptions(environ={}, api="ChatApi"))
    config = project.config
    assert config.api.throttle is not None
    assert (config.api.throttle.rate, config.api.throttle.burst) == (50, 20)
    send = config.routes["sendmessage"].throttle
    assert send is not None and (send.rate, send.burst) == (5.5, None)
    assert config.routes["$connect"].throttle is None
    assert main(["check", "--config", str(path), "--api", "ChatApi"]) == 0
    assert (
        "warning: Resources.ChatApi.Properties.RouteSettings.ghost: no route ghost is served "
        "(routes: $connect, $disconnect, sendmessage, $default); unused"
    ) in capsys.readouterr().out


STAGE = """\
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: chat, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.a}
  Connect:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $connect, Target: !Sub 'integrations/${Integ}'}
  Disconnect:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $disconnect, Target: !Sub 'integrations/${Integ}'}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Fn.Arn}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.12}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: dev
"""


def test_route_settings_with_parameters(project: Loader) -> None:
    """Values may come from parameters; $disconnect's own throttle is named and left out."""
    result = project(
        "Parameters:\n  Burst: {Type: Number, Default: 7}\n"
        + STAGE
        + "      DefaultRouteSettings: {ThrottlingBurstLimit: !Ref Burst}\n"
        "      RouteSettings:\n"
        "        $connect:\n"
        "          {ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2, DataTraceEnabled: true}\n"
        "        $disconnect: {ThrottlingRateLimit: 1}\n",
    )
    config = result.config
    assert config.api.throttle is not None
    assert (config.api.throttle.rate, config.api.throttle.burst) == (None, 7)
    connect = config.routes["$connect"].throttle
    assert connect is not None and (connect.rate, connect.burst) == (1, 2)
    assert config.routes["$disconnect"].throttle is None
    notices = notice_keys(result)
    assert notices["Resources.Stage.Properties.RouteSettings.$disconnect"].startswith(
        "Resources.Stage.Properties.RouteSettings.$disconnect: $disconnect is not throttled "
        "by wsgate"
    )
    assert "Resources.Stage.Properties.RouteSettings.$connect.DataTraceEnabled" in notices


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "      DefaultRouteSettings: {ThrottlingRateLimit: -1}\n",
            "template.yaml: Resources.Stage.Properties.DefaultRouteSettings.ThrottlingRateLimit: "
            "input should be greater than or equal to 0, got -1",
        ),
        (
            "      RouteSettings: {$connect: {ThrottlingBurstLimit: lots}}\n",
            "template.yaml: Resources.Stage.Properties.RouteSettings.$connect."
            "ThrottlingBurstLimit: input should be a valid integer, unable to parse string as "
            "an integer, got 'lots'",
        ),
        (
            "      RouteSettings: [$connect]\n",
            "template.yaml: Resources.Stage.Properties.RouteSettings: expected a mapping of route "
            "keys to settings, got ['$connect']",
        ),
        (
            "      DefaultRouteSettings: 5\n",
            "template.yaml: Resources.Stage.Properties.DefaultRouteSettings: expected a mapping "
            "of route settings, got 5",
        ),
    ],
)
def test_bad_throttle_settings(
    project: Loader, tmp_path: Path, settings: str, message: str
) -> None:
    """A value the config refuses is named at the stage's key."""
    with pytest.raises(ConfigError) as error:
        project(STAGE + settings)
    assert str(error.value).replace(f"{tmp_path}/", "") == message

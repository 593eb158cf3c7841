"""SAM's own WebSocket API, samconfig, --api, --region and inline code, from files on disk."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from tests.project.conftest import FIXTURES, Loader, notice_keys
from wsgate.cli import main
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions, load_project


SAMPLE = FIXTURES / "sam-wsapi"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A copy of the sam-wsapi project, to change its files."""
    folder = tmp_path / "app"
    shutil.copytree(SAMPLE, folder)
    return folder


def load(folder: Path, **options: object) -> ProjectOptions:
    options.setdefault("environ", {})
    options.setdefault("api", "ChatApi")
    return ProjectOptions(**options)  # type: ignore[arg-type]


# --- AWS::Serverless::WebSocketApi ----------------------------------------------------------


def test_sam_websocket_api_is_expanded_as_sam_does() -> None:
    """Routes, two-way routes with a RouteResponse on SAM's route id, the CUSTOM authorizer,
    Globals.WebSocketApi's selection expression, the stage; inline code in a private folder."""
    project = load_project(SAMPLE / "template.yaml", load(SAMPLE))
    config = project.config
    assert (config.api.stage, config.api.route_selection_expression) == (
        "live",
        "$request.body.action",
    )
    routes = {key: (r.function, r.response, r.timeout) for key, r in config.routes.items()}
    assert routes == {
        "$connect": ("ChatFunction", False, 29),
        "$disconnect": ("ChatFunction", False, 29),
        "sendmessage": ("ChatFunction", True, 15),
        "$default": ("InlineFunction", True, 29),
    }
    assert config.authorizer is not None
    assert config.authorizer.function == "AuthFunction"  # type: ignore[union-attr]
    assert config.authorizer.identity_source == ["route.request.querystring.token"]
    inline = config.functions["InlineFunction"]
    assert (inline.code / "index.py").read_text().startswith("import json\nimport os\n")
    assert stat.S_IMODE(inline.code.parent.stat().st_mode) == 0o700
    assert "Resources.AdminApi" in notice_keys(project)


def test_sam_websocket_api_notices_name_the_sam_keys(project: Loader) -> None:
    """What is not honoured is named at the SAM resource's own keys."""
    result = project(
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Ws:
            Type: AWS::Serverless::WebSocketApi
            Properties:
              RouteSelectionExpression: $request.body.a
              Domain: {DomainName: ws.example.com, CertificateArn: arn:aws:acm:x}
              AccessLogSettings: {DestinationArn: arn:aws:logs:x, Format: '$context.requestId'}
              Auth: {AuthType: AWS_IAM}
              Routes:
                $connect: {FunctionArn: !GetAtt Fn.Arn, ApiKeyRequired: true}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.12}
        """
    )
    notices = notice_keys(result)
    assert result.config.api.stage == "default"
    assert "Resources.Ws.Properties.Domain" in notices
    assert "Resources.Ws.Properties.AccessLogSettings" in notices
    assert "AWS_IAM on $connect" in notices["Resources.Ws.Properties.Auth.AuthType"]
    assert "Resources.Ws.Properties.Routes.$connect.ApiKeyRequired" in notices


WS_HEAD = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.12}
  Ws:
    Type: AWS::Serverless::WebSocketApi
    Properties:
"""


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        (
            "RouteSelectionExpression: x",
            "template.yaml: Resources.Ws.Properties.Routes: required: a mapping of route keys "
            "to {FunctionArn: ...}",
        ),
        (
            "Routes: {$connect: {FunctionArn: !GetAtt Fn.Arn}}",
            "template.yaml: Resources.Ws.Properties.RouteSelectionExpression: required",
        ),
        (
            "{RouteSelectionExpression: x, Routes: {$connect: {IntegrationTimeout: 5}}}",
            "template.yaml: Resources.Ws.Properties.Routes.$connect.FunctionArn: required",
        ),
        (
            "{RouteSelectionExpression: x, Routes: {send-it: {FunctionArn: !GetAtt Fn.Arn}}}",
            "template.yaml: Resources.Ws.Properties.Routes.send-it: SAM takes alphanumeric "
            "route keys (and $connect, $disconnect, $default), got 'send-it'",
        ),
        (
            "{RouteSelectionExpression: x, Auth: {AuthType: CUSTOM}, "
            "Routes: {$connect: {FunctionArn: !GetAtt Fn.Arn}}}",
            "template.yaml: Resources.Ws.Properties.Auth.AuthArn: required when AuthType is CUSTOM",
        ),
        (
            "{RouteSelectionExpression: x, Auth: {AuthType: JWT}, "
            "Routes: {$connect: {FunctionArn: !GetAtt Fn.Arn}}}",
            "template.yaml: Resources.Ws.Properties.Auth.AuthType: expected NONE, AWS_IAM or "
            "CUSTOM, got 'JWT'",
        ),
        (
            "{RouteSelectionExpression: x, Auth: {AuthType: AWS_IAM}, "
            "Routes: {$default: {FunctionArn: !GetAtt Fn.Arn}}}",
            "template.yaml: Resources.Ws.Properties.Auth: Auth needs a $connect route: it is "
            "applied there",
        ),
        (
            "{RouteSelectionExpression: x, StageName: $default, "
            "Routes: {$default: {FunctionArn: !GetAtt Fn.Arn}}}",
            "template.yaml: Resources.Ws.Properties.StageName: a WebSocket API's stage cannot be "
            "named $default",
        ),
        (
            "{RouteSelectionExpression: x, Routes: {$default: {FunctionArn: arn:aws:lambda:"
            "us-east-1:1:function:elsewhere}}}",
            "template.yaml: Resources.Ws.Properties.Routes.$default.FunctionArn: function "
            "'elsewhere' is not in this template",
        ),
    ],
)
def test_sam_websocket_api_errors(
    project: Loader, tmp_path: Path, properties: str, message: str
) -> None:
    """Each mistake is named at the SAM resource's key."""
    with pytest.raises(ConfigError) as error:
        project(WS_HEAD + "      " + properties + "\n")
    assert str(error.value).replace(f"{tmp_path}/", "").startswith(message)


# --- several APIs: --api --------------------------------------------------------------------


def test_several_apis_need_a_choice(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --api, the APIs are listed; with it, the other is named and not served."""
    path = str(SAMPLE / "template.yaml")
    assert main(["check", "--config", path]) == 2
    assert capsys.readouterr().err.endswith(
        "template.yaml: Resources: several WebSocket APIs (ChatApi, AdminApi): choose the one "
        "to serve with --api LOGICAL_ID\n"
    )
    assert main(["check", "--config", path, "--api", "Nope"]) == 2
    assert capsys.readouterr().err.endswith(
        "template.yaml: Resources: --api Nope: no WebSocket API of that logical id "
        "(WebSocket APIs: ChatApi, AdminApi)\n"
    )
    assert main(["check", "--config", path, "--api", "ChatApi"]) == 0
    out = capsys.readouterr().out
    assert "info: Resources.AdminApi: another WebSocket API of the template; not served" in out
    assert "ok (stage live; routes: $connect, $default, $disconnect, sendmessage)" in out


def test_the_other_api_with_node_inline_code() -> None:
    """--api AdminApi serves the plain ApiGatewayV2 API; its Code.ZipFile is index.js."""
    project = load_project(SAMPLE / "template.yaml", load(SAMPLE, api="AdminApi"))
    assert project.config.api.stage == "admin"
    assert list(project.config.routes) == ["$default"]
    admin = project.config.functions["AdminFunction"]
    assert admin.runtime == "nodejs20.x"
    assert (admin.code / "index.js").read_text().startswith("exports.handler = async")
    assert "Resources.ChatFunction" in notice_keys(project)


# --- samconfig ------------------------------------------------------------------------------


def test_samconfig_default_environment() -> None:
    """[default.deploy.parameters]: parameter_overrides, region, stack_name (over global's)."""
    config = load_project(SAMPLE / "template.yaml", load(SAMPLE)).config
    env = config.functions["ChatFunction"].environment
    assert (env["GREETING"], env["STACK"]) == ("hello-from-samconfig", "chat-stack")
    assert config.api.region == "eu-central-1"


def test_samconfig_config_env_and_flags_win() -> None:
    """--config-env prod reads [prod.*]; --region and --parameter-overrides win over it."""
    config = load_project(SAMPLE / "template.yaml", load(SAMPLE, config_env="prod")).config
    env = config.functions["ChatFunction"].environment
    assert (env["GREETING"], env["STACK"], config.api.region) == (
        "hello prod",
        "sam-wsapi",
        "us-west-2",
    )
    options = load(SAMPLE, region="ap-south-1", parameter_overrides={"Greeting": "from the flag"})
    config = load_project(SAMPLE / "template.yaml", options).config
    assert config.api.region == "ap-south-1"
    assert config.functions["ChatFunction"].environment["GREETING"] == "from the flag"
    assert config.functions["ChatFunction"].environment["STACK"] == "chat-stack"


def test_samconfig_yaml(app: Path) -> None:
    """samconfig.yaml, when there is no samconfig.toml; a list of overrides, the long form."""
    (app / "samconfig.toml").unlink()
    (app / "samconfig.yaml").write_text(
        "version: 0.1\n"
        "staging:\n"
        "  local_start_api:\n"
        "    parameters:\n"
        "      parameter_overrides:\n"
        "        - ParameterKey=Greeting,ParameterValue=hello-yaml\n"
        "      region: sa-east-1\n"
    )
    config = load_project(app / "template.yaml", load(app, config_env="staging")).config
    assert config.functions["ChatFunction"].environment["GREETING"] == "hello-yaml"
    assert config.api.region == "sa-east-1"


@pytest.mark.parametrize(
    ("text", "config_env", "message"),
    [
        (
            "[default.deploy.parameters]\nregion = 'x'\n",
            "prod",
            "--config-env prod: samconfig.toml has no environment 'prod' (environments: default)",
        ),
        ("[default.deploy.parameters\n", None, "samconfig.toml: invalid TOML: "),
        (
            "[default.deploy.parameters]\nparameter_overrides = 3\n",
            None,
            "samconfig.toml: default.deploy.parameters.parameter_overrides: expected a string "
            "or a list of strings, got 3",
        ),
        (
            "[default.deploy.parameters]\nparameter_overrides = 'Greeting'\n",
            None,
            "samconfig.toml: default.deploy.parameters.parameter_overrides 'Greeting': "
            "expected KEY=VALUE",
        ),
        (
            "[default.deploy.parameters]\nparameter_overrides = 'Nope=1'\n",
            None,
            "samconfig.toml: default.deploy.parameters.parameter_overrides Nope: template.yaml "
            "has no parameter or resource 'Nope'",
        ),
        (
            "[default.global.parameters]\nregion = 5\n",
            None,
            "samconfig.toml: default.global.parameters.region: expected a string, got 5",
        ),
        (
            "[default]\ndeploy = 'x'\n",
            None,
            "samconfig.toml: default.deploy: expected a table",
        ),
    ],
)
def test_samconfig_errors(app: Path, text: str, config_env: str | None, message: str) -> None:
    """Each mistake in samconfig.toml names the file and the key."""
    (app / "samconfig.toml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_project(app / "template.yaml", load(app, config_env=config_env))
    assert str(error.value).replace(f"{app}/", "").startswith(message)


def test_config_env_without_samconfig(app: Path) -> None:
    """--config-env with no samconfig file says which files were looked for."""
    (app / "samconfig.toml").unlink()
    with pytest.raises(ConfigError, match=r"^--config-env prod: no samconfig.toml, "):
        load_project(app / "template.yaml", load(app, config_env="prod"))


# --- inline code ----------------------------------------------------------------------------


INLINE = """\
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: chat, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.a}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub 'integrations/${Integ}'}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Fn.Arn}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
"""


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        (
            "      Handler: app.handler\n      Code: {ZipFile: 'def handler(e, c): pass'}\n",
            "template.yaml: Resources.Fn.Properties.Handler: inline source is written to "
            "index.py (as CloudFormation does), so the handler must be index.<function>, got "
            "'app.handler'",
        ),
        (
            "      Handler: index.handler\n      Code: {S3Bucket: b, S3Key: k.zip}\n",
            "template.yaml: Resources.Fn.Properties.Code: the code must be a local folder or "
            "inline source, got {'S3Bucket': 'b', 'S3Key': 'k.zip'}",
        ),
        (
            "      Handler: index.handler\n      Code: {ZipFile: [a, b]}\n",
            "template.yaml: Resources.Fn.Properties.Code.ZipFile: expected a string, "
            "got ['a', 'b']",
        ),
    ],
)
def test_inline_code_errors(project: Loader, tmp_path: Path, properties: str, message: str) -> None:
    """A handler that is not index.*, or code that is neither a folder nor inline."""
    with pytest.raises(ConfigError) as error:
        project(INLINE + properties)
    assert str(error.value).replace(f"{tmp_path}/", "").startswith(message)


def test_zipfile_with_sub(project: Loader) -> None:
    """Code.ZipFile's intrinsics are resolved before the source is written."""
    result = project(
        INLINE + "      Handler: index.handler\n"
        "      Code:\n"
        "        ZipFile: !Sub |\n"
        "          REGION = '${AWS::Region}'\n",
        region="eu-west-3",
    )
    code = result.config.functions["Fn"].code
    assert (code / "index.py").read_text() == "REGION = 'eu-west-3'\n"


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--param", "a=1"],
            "--param: {path} is a wsgate.yaml, not a serverless.yml or a template",
        ),
        (
            ["--var", "ssm:/a=1"],
            "--var: {path} is a wsgate.yaml, not a serverless.yml or a template",
        ),
        (["--api", "A"], "--api: {path} is a wsgate.yaml, not a serverless.yml or a template"),
        (
            ["--config-env", "prod"],
            "--config-env: {path} is a wsgate.yaml, not a serverless.yml or a template",
        ),
        (["--param", "novalue"], "--param 'novalue': expected KEY=VALUE"),
    ],
)
def test_project_flags_on_a_wsgate_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    """Flags that only a project file takes are refused for a wsgate.yaml, not ignored."""
    config = tmp_path / "wsgate.yaml"
    config.write_text("")
    assert main(["check", "--config", str(config), *flags]) == 2
    assert message.format(path=config) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        ("sam-wsapi/template.yaml", ["--param", "a=1"], "--param: {path} is a template"),
        ("sam-wsapi/template.yaml", ["--var", "ssm:/a=1"], "--var: {path} is a template"),
        ("sls-chat/serverless.yml", ["--api", "A"], "--api: {path} is a serverless.yml"),
        ("sls-chat/serverless.yml", ["--config-env", "x"], "--config-env: {path} is a serverless"),
    ],
)
def test_flags_of_the_other_kind(
    capsys: pytest.CaptureFixture[str], config: str, flags: list[str], message: str
) -> None:
    """A serverless.yml takes no --api or --config-env; a template no --param or --var."""
    path = FIXTURES / config
    assert main(["check", "--config", str(path), *flags]) == 2
    err = capsys.readouterr().err
    assert message.format(path=path) in err
    assert err.rstrip().endswith("which does not take it")


def test_region_flag_on_a_wsgate_yaml(tmp_path: Path) -> None:
    """--region sets api.region of a wsgate.yaml too."""
    from wsgate.cli import _load, _parser

    config = tmp_path / "wsgate.yaml"
    config.write_text("api: {region: us-east-1}\n")
    args = _parser().parse_args(["check", "--config", str(config), "--region", "eu-north-1"])
    assert _load(args).config.api.region == "eu-north-1"

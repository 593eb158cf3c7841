"""CloudFormation / SAM templates translated to a gateway config."""

from __future__ import annotations

import pytest

from tests.project.conftest import FIXTURES, Loader, notice_keys
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions, load_project


HEAD = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
"""

API = """\
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: chat, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.type}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub >-
        arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${ChatFn.Arn}/invocations
  ChatFn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Handler: app.lambda_handler, Runtime: python3.12}
"""


def route(name: str, key: str, extra: str = "") -> str:
    return f"""\
  {name}:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: {key}
      Target: !Join ['/', [integrations, !Ref Integ]]
{extra}"""


def template(*parts: str, head: str = HEAD) -> str:
    return head + "Resources:\n" + API + "".join(parts)


def test_sample_template_maps_routes_functions_and_stage() -> None:
    """The chat sample: one function per route, its code folder, Globals, the stage."""
    project = load_project(FIXTURES / "sam-chat" / "template.yaml", ProjectOptions(environ={}))
    config = project.config
    assert config.api.name == "SimpleChatWebSocket"
    assert config.api.stage == "Dev"
    assert config.api.route_selection_expression == "$request.body.action"
    routes = {key: (r.function, r.response, r.timeout) for key, r in config.routes.items()}
    assert routes == {
        "$connect": ("OnConnectFunction", False, 29),
        "$disconnect": ("OnDisconnectFunction", False, 29),
        "sendmessage": ("SendMessageFunction", True, 20),
    }
    send = config.functions["SendMessageFunction"]
    assert send.code == FIXTURES / "sam-chat" / "sendmessage"
    assert (send.handler, send.runtime, send.timeout, send.memory_size) == (
        "app.lambda_handler",
        "python3.12",
        20,
        256,
    )
    assert config.functions["OnConnectFunction"].timeout == 10  # Globals.Function.Timeout
    assert send.environment == {
        "TABLE_NAME": "simplechat_connections",
        "RECORD": "",
        "TABLE_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/simplechat_connections",
        "GREETING": "hi",
    }
    notices = notice_keys(project)
    assert "not created" in notices["Resources.ConnectionsTable"]
    assert "IAM is not enforced" in notices["Resources.OnConnectFunction.Properties.Policies"]


def test_parameter_overrides_and_conditions() -> None:
    """--parameter-overrides sets parameters; conditions follow them; --stage wins."""
    path = FIXTURES / "sam-chat" / "template.yaml"
    options = ProjectOptions(
        parameter_overrides={"Environment": "prod", "TableName": "t2"}, environ={}
    )
    config = load_project(path, options).config
    assert config.api.stage == "Prod"
    assert config.functions["SendMessageFunction"].environment["GREETING"] == "hello"
    assert config.functions["OnConnectFunction"].environment["TABLE_NAME"] == "t2"
    staged = ProjectOptions(stage="qa", environ={})
    assert load_project(path, staged).config.api.stage == "qa"


def test_table_name_override_by_logical_id(project: Loader) -> None:
    """A table's Ref is its logical id, renamed by --parameter-overrides or WSGATE_REF_."""
    text = template(
        route("R", "$default"),
        "  Table:\n    Type: AWS::DynamoDB::Table\n    Properties: {}\n",
    ).replace(
        "Runtime: python3.12}",
        "Runtime: python3.12, Environment: {Variables: {T: !Ref Table}}}",
    )
    assert project(text).config.functions["ChatFn"].environment["T"] == "Table"
    renamed = project(text, environ={"WSGATE_REF_Table": "from-env"})
    assert renamed.config.functions["ChatFn"].environment["T"] == "from-env"
    overridden = project(text, parameter_overrides={"Table": "real"})
    assert overridden.config.functions["ChatFn"].environment["T"] == "real"


def test_custom_authorizer_on_connect(project: Loader) -> None:
    """CUSTOM with an Authorizer: its function and identity sources."""
    text = template(
        route(
            "Connect",
            "$connect",
            "      AuthorizationType: CUSTOM\n      AuthorizerId: !Ref Auth\n",
        ),
        """\
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: auth
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub >-
        arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthFn.Arn}/invocations
      IdentitySource: [route.request.querystring.token, stageVariables.x]
  AuthFn:
    Type: AWS::Lambda::Function
    Properties: {Code: fn, Handler: auth.handler, Runtime: python3.13, Role: arn:aws:iam::1:role/x}
""",
    )
    project_ = project(text)
    authorizer = project_.config.authorizer
    assert authorizer is not None
    assert authorizer.function == "AuthFn"  # type: ignore[union-attr]
    assert authorizer.identity_source == ["route.request.querystring.token"]
    assert project_.config.functions["AuthFn"].runtime == "python3.13"
    assert (
        "stageVariables.x" in notice_keys(project_)["Resources.Auth.Properties.IdentitySource[1]"]
    )


def test_what_is_not_honoured_is_named(project: Loader) -> None:
    """AWS_IAM, API keys, a one-way expression and other APIs are notices with key paths."""
    text = template(
        route(
            "Connect", "$connect", "      AuthorizationType: AWS_IAM\n      ApiKeyRequired: true\n"
        ),
        route("Send", "send", "      RouteResponseSelectionExpression: $default\n"),
        "  Http:\n    Type: AWS::ApiGatewayV2::Api\n    Properties: {ProtocolType: HTTP}\n",
        "  Bucket:\n    Type: AWS::S3::Bucket\n",
        "  Unused:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn}\n",
    )
    project_ = project(text)
    notices = notice_keys(project_)
    assert (
        "every connection is accepted" in notices["Resources.Connect.Properties.AuthorizationType"]
    )
    assert "API keys" in notices["Resources.Connect.Properties.ApiKeyRequired"]
    assert "one-way" in notices["Resources.Send.Properties.RouteResponseSelectionExpression"]
    assert "not served" in notices["Resources.Http"]
    assert "not created" in notices["Resources.Bucket"]
    assert "not run" in notices["Resources.Unused"]
    assert project_.config.authorizer is None
    assert project_.config.routes["send"].response is False
    assert project_.config.api.route_selection_expression == "$request.body.type"


def test_globals_environment_merges(project: Loader) -> None:
    """Globals.Function's variables are merged with the function's, the function's winning."""
    head = HEAD + (
        "Globals:\n  Function:\n    Timeout: 7\n    Environment: {Variables: {A: g, B: g}}\n"
    )
    text = template(route("R", "$default"), head=head).replace(
        "Runtime: python3.12}", "Runtime: python3.12, Environment: {Variables: {B: f}}}"
    )
    function = project(text).config.functions["ChatFn"]
    assert function.environment == {"A": "g", "B": "f"}
    assert function.timeout == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("ProtocolType: WEBSOCKET", "ProtocolType: HTTP"),
            r"Resources: no AWS::ApiGatewayV2::Api",
        ),
        (
            ("python3.12", "python3.8"),
            r"Resources\.ChatFn\.Properties\.Runtime: runtime 'python3\.8'",
        ),
        (
            ("CodeUri: fn/", "CodeUri: gone/"),
            r"Resources\.ChatFn\.Properties\.CodeUri: the code folder",
        ),
        (("CodeUri: fn/", "CodeUri: s3://b/k.zip"), r"CodeUri: the code must be a local folder"),
        (
            ("${ChatFn.Arn}", "arn:aws:lambda:us-east-1:1:function:elsewhere"),
            r"IntegrationUri: function 'elsewhere' is not in this template",
        ),
        (
            ("Runtime: python3.12}", "Runtime: python3.12, Timeout: 0}"),
            r"Resources\.ChatFn\.Properties\.Timeout: input should be greater than 0",
        ),
        (
            ("Handler: app.lambda_handler", "Handler: nodots"),
            r"Resources\.ChatFn\.Properties\.Handler: invalid handler",
        ),
    ],
)
def test_errors_name_the_template_key(
    project: Loader, change: tuple[str, str], message: str
) -> None:
    """A problem names template.yaml and the key path in it, not wsgate's key."""
    text = template(route("R", "$default")).replace(*change)
    with pytest.raises(ConfigError, match=r"template\.yaml: .*" + message):
        project(text)


def test_parameter_without_default_needs_an_override(project: Loader) -> None:
    """A parameter without Default asks for --parameter-overrides; unknown overrides fail."""
    text = template(route("R", "$default")).replace(
        "Resources:", "Parameters:\n  Needed: {Type: String}\nResources:"
    )
    with pytest.raises(ConfigError, match="Parameters.Needed: has no Default: give it a value"):
        project(text)
    assert project(text, parameter_overrides={"Needed": "x"}).config.routes
    with pytest.raises(
        ConfigError, match="--parameter-overrides Nope: .* no parameter or resource"
    ):
        project(text, parameter_overrides={"Needed": "x", "Nope": "y"})

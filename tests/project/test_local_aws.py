"""aws.endpoints, --endpoint and --create-resources: what they set, create and refuse.

Tables are created on a real moto server; the command line is ``wsgate.cli.main``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.moto_support import dynamodb, moto_server
from tests.project.conftest import FIXTURES, Loader, notice_keys
from tests.server_support import free_port
from wsgate.cli import main
from wsgate.config.aws import AwsSettings, endpoint_variable
from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions, load_project
from wsgate.server.gateway import build_gateway
from wsgate.workers.invoke_api import InvokeError, resolve_function


SAM_NOTIFY_FOLDERS = (
    "auth-handler",
    "connect-handler",
    "disconnect-handler",
    "send-message",
    "audit-writer",
)
"""The code folders of the sam-notify template's functions."""


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("dynamodb", "AWS_ENDPOINT_URL_DYNAMODB"),
        ("DynamoDB", "AWS_ENDPOINT_URL_DYNAMODB"),
        ("dynamodb_streams", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"),
        ("dynamodbstreams", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"),
        ("secretsmanager", "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        ("Secrets Manager", "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        ("events", "AWS_ENDPOINT_URL_EVENTBRIDGE"),
        ("s3", "AWS_ENDPOINT_URL_S3"),
        ("sqs", "AWS_ENDPOINT_URL_SQS"),
    ],
)
def test_endpoint_variable_is_the_sdks(service: str, variable: str) -> None:
    """The variable botocore reads: the service identifier, hyphens and spaces as '_'."""
    assert endpoint_variable(service) == variable


def test_endpoint_variable_matches_botocore() -> None:
    """Checked against botocore's own service models where it is installed."""
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.utils import hyphenize_service_id

    session = botocore_session.get_session()
    for client in ("dynamodb", "dynamodbstreams", "secretsmanager", "events", "sqs", "s3"):
        service_id = session.get_service_model(client).service_id
        expected = "AWS_ENDPOINT_URL_" + hyphenize_service_id(service_id).replace("-", "_").upper()
        assert endpoint_variable(client) == expected


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ({"lambda": "http://127.0.0.1:1"}, "lambda: the gateway serves Lambda's Invoke API"),
        ({"dynamodb": "127.0.0.1:8000"}, "expected an http\\(s\\) URL"),
        ({"dyna/mo": "http://127.0.0.1:8000"}, "invalid service name"),
    ],
)
def test_bad_endpoints_are_refused(endpoints: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AwsSettings(endpoints=endpoints)


def test_endpoints_reach_in_process_handlers_and_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Set in the gateway's environment before handlers import; under each function's
    own environment, which wins."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://before")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)  # restored after the test
    (tmp_path / "fn").mkdir()
    config = GatewayConfig.model_validate(
        {
            "aws": {"endpoints": {"dynamodb": "http://127.0.0.1:8000", "s3": "http://s3.local"}},
            "functions": {
                "own": {
                    "runtime": "python3.12",
                    "code": str(tmp_path / "fn"),
                    "handler": "app.handler",
                    "environment": {"AWS_ENDPOINT_URL_S3": "http://mine"},
                }
            },
            "routes": {"$default": {"function": "own"}},
        }
    )
    gateway = build_gateway(config)
    gateway.runners.threads.shutdown()
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8000"
    assert gateway.functions is not None
    environment = gateway.functions.pools["own"].spec.environment
    assert environment["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8000"
    assert environment["AWS_ENDPOINT_URL_S3"] == "http://mine"


def test_invoke_api_answers_to_deployed_names_and_arns() -> None:
    names = {"AuditFunction": object()}
    aliases = {"stack-audit": "AuditFunction"}

    def resolve(reference: str) -> str:
        return resolve_function(
            reference, None, names, region="us-east-1", account_id="123456789012", aliases=aliases
        )

    for reference in (
        "AuditFunction",
        "stack-audit",
        "arn:aws:lambda:us-east-1:123456789012:function:stack-audit",
        "123456789012:function:stack-audit",
    ):
        assert resolve(reference) == "AuditFunction"
    with pytest.raises(InvokeError, match="Function not found"):
        resolve("arn:aws:lambda:eu-west-1:123456789012:function:stack-audit")
    with pytest.raises(InvokeError, match="Function not found"):
        resolve("other-audit")


def test_functions_on_no_route_keep_their_deployed_names() -> None:
    sam = load_project(FIXTURES / "sam-notify" / "template.yaml", ProjectOptions(environ={}))
    assert sam.config.functions["AuditFunction"].deployed_name == "sam-notify-audit-writer"
    assert "AuditFunction" not in {r.function for r in sam.config.routes.values()}
    notices = notice_keys(sam)
    assert "Invoke API as sam-notify-audit-writer" in notices["Resources.AuditFunction"]
    sls = load_project(FIXTURES / "sls-router" / "serverless.yml", ProjectOptions(environ={}))
    assert sls.config.functions["router"].deployed_name == "sls-router-dev-router"


def test_a_function_on_no_route_that_cannot_run_is_named_not_fatal(project: Loader) -> None:
    text = """
        service: svc
        provider: {name: aws, runtime: python3.12}
        functions:
          chat:
            handler: app.chat
            events: [{websocket: {route: $default}}]
          report:
            handler: Report::handleRequest
            runtime: java21
            events: [{schedule: rate(1 day)}]
        """
    loaded = project(text, name="serverless.yml")
    assert "report" not in loaded.config.functions
    assert "runtime 'java21' cannot be run" in notice_keys(loaded)["functions.report"]


def test_tables_are_read_only_to_be_created(project: Loader) -> None:
    """Without --create-resources a table is named as not created, its StreamArn as having
    no local value; with it, the CreateTable request is what the template says."""
    text = (FIXTURES / "sam-notify" / "template.yaml").read_text()
    plain = project(text, folders=SAM_NOTIFY_FOLDERS)
    assert plain.tables == ()
    notices = notice_keys(plain)
    assert "not created" in notices["Resources.AuditTable"]
    assert "--create-resources" in notices["Resources.AuditTable"]
    created = project(text, folders=SAM_NOTIFY_FOLDERS, create_resources=True)
    audit = {table.logical_id: table for table in created.tables}["AuditTable"]
    assert audit.request["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 5,
        "WriteCapacityUnits": 5,
    }
    assert audit.request["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_IMAGE",
    }
    assert audit.request["LocalSecondaryIndexes"][0]["IndexName"] == "byTime"
    assert (
        "SSESpecification has no local meaning"
        in notice_keys(created)["Resources.ConnectionsTable.Properties.SSESpecification"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "      KeySchema:\n        - AttributeName: connectionId",
                "      Keys:\n        - AttributeName: connectionId",
            ),
            r"Resources\.ConnectionsTable\.Properties\.KeySchema: required",
        ),
        (
            (
                "      BillingMode: PAY_PER_REQUEST\n      SSESpecification",
                "      SSESpecification",
            ),
            r"Resources\.ConnectionsTable\.Properties\.ProvisionedThroughput: required with "
            "BillingMode PROVISIONED",
        ),
    ],
)
def test_bad_table_definitions_name_the_key(
    project: Loader, change: tuple[str, str], message: str
) -> None:
    text = (FIXTURES / "sam-notify" / "template.yaml").read_text()
    assert change[0] in text
    with pytest.raises(ConfigError, match=message):
        project(text.replace(*change), folders=SAM_NOTIFY_FOLDERS, create_resources=True)


def _serve(folder: Path, *args: str) -> int:
    return main(["serve", "--config", str(folder), "--port", "0", *args])


def _copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name


def test_create_resources_needs_a_local_dynamodb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _copy(tmp_path, "sls-router")
    assert _serve(folder / "serverless.yml", "--create-resources") == 2
    error = capsys.readouterr().err
    assert "has tables (sls-router-dev-connections) but no local DynamoDB" in error
    assert "--endpoint dynamodb=URL" in error


def test_create_resources_says_when_the_endpoint_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    folder = _copy(tmp_path, "sls-router")
    status = _serve(
        folder / "serverless.yml",
        "--create-resources",
        "--endpoint",
        f"dynamodb=http://127.0.0.1:{port}",
    )
    assert status == 2
    error = capsys.readouterr().err
    assert f"cannot reach DynamoDB at http://127.0.0.1:{port}" in error


def test_a_definition_the_endpoint_refuses_names_the_table(
    tmp_path: Path, moto: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attribute defined but used by no key nor index: DynamoDB (and moto) refuse it."""
    folder = _copy(tmp_path, "sls-router")
    path = folder / "serverless.yml"
    text = path.read_text().replace(
        "          - AttributeName: connectionId\n            AttributeType: S\n",
        "          - AttributeName: connectionId\n            AttributeType: S\n"
        "          - AttributeName: unused\n            AttributeType: S\n",
        1,
    )
    path.write_text(text)
    assert _serve(path, "--create-resources", "--endpoint", f"dynamodb={moto}") == 2
    error = capsys.readouterr().err
    assert "resources.Resources.ConnectionsTable: " in error
    assert "refused table 'sls-router-dev-connections': ValidationException" in error
    with pytest.raises(Exception, match="ResourceNotFound"):
        dynamodb(moto).describe_table(TableName="sls-router-dev-connections")


def test_flags_that_do_not_fit_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wsgate.yaml"
    config.write_text("routes: {}\n")
    assert _serve(config, "--create-resources") == 2
    assert "is a wsgate.yaml without import:; it creates a serverless.yml's" in (
        capsys.readouterr().err
    )
    assert _serve(config, "--endpoint", "dynamodb") == 2
    assert "--endpoint 'dynamodb': expected SERVICE=URL" in capsys.readouterr().err
    assert _serve(config, "--endpoint", "lambda=http://127.0.0.1:1") == 2
    assert "the gateway serves Lambda's Invoke API" in capsys.readouterr().err


def test_a_deployed_name_lambda_would_refuse_is_named_not_fatal(tmp_path: Path) -> None:
    """AWS::StackName is the folder's name here, which may hold a dot."""
    folder = tmp_path / "app.v2"
    shutil.copytree(FIXTURES / "sam-notify", folder)
    loaded = load_project(folder / "template.yaml", ProjectOptions(environ={}))
    assert loaded.config.functions["AuditFunction"].deployed_name is None
    notice = notice_keys(loaded)["Resources.AuditFunction.Properties.FunctionName"]
    assert "'app.v2-audit-writer' is not a Lambda function name" in notice

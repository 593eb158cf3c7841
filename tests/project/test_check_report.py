"""``wsgate check``'s report: the API a config resolves to, in text and in JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.project.conftest import FIXTURES
from wsgate.cli import main
from wsgate.config.masking import MASK, is_secret_name, mask_value
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions, load_project


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["check", *argv])
    return status, capsys.readouterr().out


def _report(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    *argv: str,
    status: int = 0,
    kind: str | None = None,
) -> str:
    """The text report of ``wsgate check --config CONFIG ARGV``, its exit status checked,
    and its first line (the file and its ``kind``) when given."""
    code, out = _check(capsys, "--config", str(config), *argv)
    assert code == status
    if kind is not None:
        assert out.startswith(f"{config}: {kind}\n")
    return out


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    status, out = _check(capsys, "--json", *argv)
    report: dict[str, object] = json.loads(out)
    return status, report


def _section(text: str, title: str) -> str:
    """The lines of one section of the text report, up to the next blank line."""
    start = text.index(f"\n{title}\n") + len(title) + 2
    end = text.find("\n\n", start)
    return text[start : end if end != -1 else None]


def test_sam_template_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Each route with its function, code folder, handler, runtime, timeout and way;
    every function's environment; the notices; the summary line last."""
    path = FIXTURES / "sam-chat" / "template.yaml"
    out = _report(capsys, path, kind="a SAM/CloudFormation template")
    api = _section(out, "API")
    assert "  stage:             Dev" in api
    assert "  route selection:   $request.body.action" in api
    routes = _section(out, "Routes")
    assert (
        "  sendmessage -> function SendMessageFunction (two-way)\n"
        "      code:     sendmessage/\n"
        "      handler:  app.lambda_handler\n"
        "      runtime:  python3.12\n"
        "      timeout:  20 s"
    ) in routes
    assert (
        "  $connect -> function OnConnectFunction (one-way)\n      code:     onconnect/" in routes
    )
    assert _section(out, "Authorizer") == "  none: every upgrade goes to $connect"
    functions = _section(out, "Functions")
    assert "        TABLE_NAME=simplechat_connections" in functions
    assert (
        "        TABLE_ARN=arn:aws:dynamodb:us-east-1:123456789012:table/simplechat_connections"
    ) in functions
    assert "      memory:       256 MB" in functions
    notices = _section(out, "Notices")
    assert "  warning: Resources.ConnectionsTable: AWS::DynamoDB::Table is not created" in notices
    assert out.rstrip().endswith(
        f"{path}: ok (stage Dev; routes: $connect, $disconnect, sendmessage)"
    )


def test_serverless_report_names_the_authorizer(capsys: pytest.CaptureFixture[str]) -> None:
    """The authorizer's function, folder, handler and identity sources; no result cache."""
    path = FIXTURES / "sls-chat" / "serverless.yml"
    out = _report(capsys, path, "--stage", "qa")
    authorizer = _section(out, "Authorizer")
    assert "  type:              request" in authorizer
    assert "  invokes:           function auth (./, handler.auth, python3.12)" in authorizer
    assert "  identity sources:  route.request.querystring.token" in authorizer
    assert "result cache:      none" in authorizer
    assert "      invoked by:   (authorizer)" in _section(out, "Functions")
    routes = _section(out, "Routes")
    assert "  $default -> function default (two-way)" in routes
    assert "      handler:  src/chat.send_message" in routes


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    """--json says the same as the text, as one object."""
    path = FIXTURES / "sls-chat" / "serverless.yml"
    status, report = _json(capsys, "--config", str(path))
    assert status == 0
    assert report["ok"] is True
    assert report["kind"] == "a serverless.yml"
    assert report["api"] == {
        "name": "slschat-ws",
        "id": report["api"]["id"],  # type: ignore[index]
        "stage": "dev",
        "route_selection_expression": "$request.body.action",
        "region": "eu-west-1",
    }
    routes = {r["route"]: r for r in report["routes"]}  # type: ignore[attr-defined]
    assert routes["sendmessage"] == {
        "route": "sendmessage",
        "two_way": True,
        "function": "sendMessage",
        "code": "./",
        "handler": "src/chat.send_message",
        "runtime": "python3.12",
        "timeout": 10,
    }
    assert report["authorizer"]["identity_sources"] == [  # type: ignore[index]
        "route.request.querystring.token"
    ]
    default = report["functions"]["default"]  # type: ignore[index]
    assert default["environment"]["TABLE_REF"] == "slschat-dev-connections"
    assert {n["key"] for n in report["notices"]} >= {"provider.iam"}  # type: ignore[attr-defined]


def test_json_report_of_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An error is JSON too, and the exit status 2."""
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-chat", folder)
    path = folder / "template.yaml"
    path.write_text(path.read_text().replace("Timeout: 20", "Timeout: soon"))
    status, report = _json(capsys, "--config", str(path))
    assert status == 2
    assert report["ok"] is False
    errors = report["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert f"{path}: Resources.SendMessageFunction.Properties.Timeout:" in errors[0]


UNRESOLVED_SERVICE = """\
service: gaps
provider:
  name: aws
  runtime: python3.12
  environment:
    DB_URL: ${ssm:/gaps/db-url}
    SITE: ${env:GAPS_SITE}
    SIZE: ${param:size}
functions:
  main:
    handler: app.handler
    timeout: ${env:GAPS_TIMEOUT, 4}
    events: [{websocket: $default}]
"""


def test_every_unresolved_reference_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check lists every reference nothing resolves, beside the rest of the report, and
    exits 2; serve's error names all of them too."""
    monkeypatch.delenv("GAPS_SITE", raising=False)
    path = tmp_path / "serverless.yml"
    path.write_text(UNRESOLVED_SERVICE)
    out = _report(capsys, path, status=2)
    unresolved = _section(out, "Unresolved").splitlines()
    assert [line.split(": cannot resolve ")[0] for line in unresolved] == [
        f"  {path}: provider.environment.DB_URL",
        f"  {path}: provider.environment.SITE",
        f"  {path}: provider.environment.SIZE",
    ]
    assert "        SITE=${env:GAPS_SITE}" in _section(out, "Functions")
    assert "      timeout:      4 s" in _section(out, "Functions")
    assert out.rstrip().endswith(f"{path}: 3 references not resolved (shown as written above)")
    status, report = _json(capsys, "--config", str(path))
    assert status == 2 and report["ok"] is False
    assert len(report["unresolved"]) == 3  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as error:
        load_project(path, ProjectOptions(environ={}))
    assert len(str(error.value).splitlines()) == 3


def test_template_parameters_without_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every parameter with no Default and no override is named, with how to give it."""
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-chat", folder)
    path = folder / "template.yaml"
    path.write_text(
        path.read_text()
        .replace("    Default: 'simplechat_connections'\n", "")
        .replace("    Type: String\n    Default: ''\n", "    Type: String\n")
    )
    out = _report(capsys, path, status=2)
    assert _section(out, "Unresolved").splitlines() == [
        f"  {path}: Parameters.TableName: has no Default: give it a value with "
        "--parameter-overrides TableName=VALUE",
        f"  {path}: Parameters.RecordFile: has no Default: give it a value with "
        "--parameter-overrides RecordFile=VALUE",
    ]
    status, out = _check(
        capsys, "--config", str(path), "--parameter-overrides", "TableName=t", "RecordFile="
    )
    assert status == 0, out


def test_secrets_are_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Secret-looking values are masked in the text and the JSON; names of things are not."""
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-chat", folder)
    path = folder / "template.yaml"
    path.write_text(
        path.read_text().replace(
            "          GREETING: !If [IsProd, hello, hi]\n",
            "          GREETING: !If [IsProd, hello, hi]\n"
            "          DB_PASSWORD: hunter2\n"
            "          apiKey: sk-live-1234\n"
            "          API_KEYS_TABLE: keys\n"
            "          DATABASE_URL: postgres://chat:s3cret@db:5432/chat\n",
        )
    )
    out = _report(capsys, path)
    assert f"        DB_PASSWORD={MASK}" in out
    assert f"        apiKey={MASK}" in out
    assert "        API_KEYS_TABLE=keys" in out
    assert f"        DATABASE_URL=postgres://chat:{MASK}@db:5432/chat" in out
    assert "hunter2" not in out and "sk-live" not in out and "s3cret" not in out
    _status, report = _json(capsys, "--config", str(path))
    environment = report["functions"]["SendMessageFunction"]["environment"]  # type: ignore[index]
    assert environment["DB_PASSWORD"] == MASK
    assert environment["API_KEYS_TABLE"] == "keys"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("GITHUB_TOKEN", True),
        ("JWT_SECRET_KEY", True),
        ("clientSecret", True),
        ("api-key", True),
        ("STRIPE_APIKEY", True),
        ("GOOGLE_CREDENTIALS", True),
        ("PRIVATE_KEY_PEM", True),
        ("TABLE_NAME", False),
        ("API_KEYS_TABLE", False),
        ("TOKEN_TABLE_NAME", False),
        ("SECRET_ARN", False),
        ("KMS_KEY_ID", False),
        ("KEYBOARD_LAYOUT", False),
        ("MONKEY", False),
        ("AWS_ENDPOINT_URL_DYNAMODB", False),
    ],
)
def test_the_masking_rule(name: str, secret: bool) -> None:
    """A word of the name says secret; a last word naming a thing says not."""
    assert is_secret_name(name) is secret
    assert (mask_value(name, "value") == MASK) is secret


def test_url_passwords_are_masked_whatever_the_name() -> None:
    assert mask_value("TOKEN_URL", "https://u:p4ss@idp/x") == f"https://u:{MASK}@idp/x"
    assert mask_value("REDIS", "redis://:p4ss@cache:6379/0") == f"redis://:{MASK}@cache:6379/0"
    assert mask_value("SITE", "https://example.com/a@b") == "https://example.com/a@b"
    assert mask_value("DB_PASSWORD", "") == ""


def test_wsgate_yaml_report_with_in_process_handlers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wsgate.yaml's in-process handlers and JWT authorizer are reported too."""
    (tmp_path / "app.py").write_text("def handle(event, context):\n    return None\n")
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    config = tmp_path / "wsgate.yaml"
    config.write_text(
        "api: {stage: local}\n"
        "authorizer:\n"
        "  type: jwt\n"
        "  issuer: https://issuer.example\n"
        "  audience: chat\n"
        "  jwks_file: jwks.json\n"
        "  identity_source: route.request.querystring.token\n"
        "routes:\n"
        "  $default: app:handle\n"
        "  ask: {handler: app:handle, response: true, timeout: 5}\n"
    )
    out = _report(capsys, config, kind="a wsgate.yaml")
    routes = _section(out, "Routes")
    assert "  $default -> handler app:handle (in process, one-way)" in routes
    assert "  ask -> handler app:handle (in process, two-way)\n      timeout:  5 s" in routes
    authorizer = _section(out, "Authorizer")
    assert "  type:              jwt" in authorizer
    assert "  keys:              jwks.json" in authorizer
    assert "  identity sources:  route.request.querystring.token" in authorizer
    assert "  key cache:         300 s" in authorizer
    assert _section(out, "Functions") == "  none (every integration runs in process)"

"""A wsgate.yaml with ``import:``: a project file with local settings merged over it."""

from __future__ import annotations

import json
import logging
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.project.conftest import FIXTURES
from wsgate.cli import main
from wsgate.exceptions import ConfigError
from wsgate.project import ProjectOptions
from wsgate.project.overlay import load_importing


def _folder(tmp_path: Path, fixture: str, wsgate_yaml: str) -> Path:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / fixture, folder)
    (folder / "wsgate.yaml").write_text(textwrap.dedent(wsgate_yaml))
    return folder


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status = main(["check", "--json", *argv])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert status == 0, report
    return report


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["check", *argv]) == 2
    return capsys.readouterr().err


def test_keys_are_merged_over_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ports, stage, api_id and a function's settings change; the rest is the import's."""
    folder = _folder(
        tmp_path,
        "sls-chat",
        """\
        import: {path: serverless.yml, stage: local}
        api: {api_id: abcdef1234}
        server: {port: 9100, tls_port: null}
        aws: {endpoints: {dynamodb: http://127.0.0.1:8000}}
        functions:
          sendMessage:
            timeout: 4
            memory_size: 512
            environment:
              AWS_ENDPOINT_URL_DYNAMODB: http://127.0.0.1:8001
        """,
    )
    report = _report(capsys, "--config", str(folder / "wsgate.yaml"))
    assert report["kind"].startswith("a wsgate.yaml with import:")
    assert report["api"]["id"] == "abcdef1234"
    assert report["api"]["stage"] == "local"
    assert report["server"] == {
        "ws": "ws://127.0.0.1:9100/local",
        "wss": None,
        "registry": "memory",
        "aws_endpoints": {"dynamodb": "http://127.0.0.1:8000"},
    }
    send = report["functions"]["sendMessage"]
    assert (send["timeout"], send["memory_size"]) == (4, 512)
    assert send["environment"] == {
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001",  # its own, over aws.endpoints
        "TABLE_NAME": "slschat-local-connections",  # ${sls:stage} is import.stage
        "RECORD": "",
        "SETTINGS_COLOR": "blue",
    }
    # Untouched: the other functions, the authorizer, the routes.
    assert report["functions"]["default"]["timeout"] == 5
    default_env = report["functions"]["default"]["environment"]
    assert default_env["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8000"
    assert report["authorizer"]["function"] == "auth"
    assert [r["route"] for r in report["routes"]] == [
        "$connect",
        "$disconnect",
        "$default",
        "sendmessage",
    ]


def test_import_options_and_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """import:'s parameter overrides are read as --parameter-overrides; the flag wins."""
    folder = _folder(
        tmp_path,
        "sam-chat",
        """\
        import:
          path: template.yaml
          parameter_overrides: {Environment: prod, TableName: local-table}
        """,
    )
    config = str(folder / "wsgate.yaml")
    report = _report(capsys, "--config", config)
    assert report["api"]["stage"] == "Prod"
    send = report["functions"]["SendMessageFunction"]["environment"]
    assert (send["GREETING"], send["TABLE_NAME"]) == ("hello", "local-table")
    report = _report(capsys, "--config", config, "--parameter-overrides", "Environment=dev")
    assert report["api"]["stage"] == "Dev"
    assert report["functions"]["SendMessageFunction"]["environment"]["TABLE_NAME"] == (
        "local-table"
    )
    report = _report(capsys, "--config", config, "--stage", "cli")
    assert report["api"]["stage"] == "cli"


def test_import_of_a_template_with_several_apis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """import.api and import.config_env choose as --api and --config-env do."""
    folder = _folder(
        tmp_path,
        "sam-wsapi",
        "import: {path: template.yaml, api: ChatApi, config_env: prod}\n",
    )
    report = _report(capsys, "--config", str(folder / "wsgate.yaml"))
    assert report["api"]["stage"] == "live"
    assert report["api"]["region"] == "us-west-2"
    assert report["functions"]["ChatFunction"]["environment"]["GREETING"] == "hello prod"


def test_a_route_given_a_handler_loses_its_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One integration replaces the other; the authorizer's keys merge; lists replace."""
    folder = _folder(
        tmp_path,
        "sls-chat",
        """\
        import: serverless.yml
        routes:
          $default: local:default
          sendmessage: {handler: local:send, timeout: 2}
        authorizer:
          identity_source: [route.request.header.Authorization]
        """,
    )
    (folder / "local.py").write_text("def default(e, c):\n    pass\n\nsend = default\n")
    report = _report(capsys, "--config", str(folder / "wsgate.yaml"))
    routes = {r["route"]: r for r in report["routes"]}
    assert routes["$default"]["handler"] == "local:default"
    assert "function" not in routes["$default"]
    assert routes["sendmessage"]["two_way"] is True  # kept from the import
    assert (routes["sendmessage"]["handler"], routes["sendmessage"]["timeout"]) == (
        "local:send",
        2,
    )
    assert report["authorizer"]["function"] == "auth"
    assert report["authorizer"]["identity_sources"] == ["route.request.header.Authorization"]


def test_null_removes_the_authorizer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, "sls-chat", "import: serverless.yml\nauthorizer: null\n")
    assert _report(capsys, "--config", str(folder / "wsgate.yaml"))["authorizer"] is None


def test_paths_are_relative_to_the_wsgate_yaml(tmp_path: Path) -> None:
    """A code folder the wsgate.yaml gives is its own folder's; the import's stay."""
    folder = _folder(
        tmp_path,
        "sam-chat",
        "import: template.yaml\nfunctions:\n  OnConnectFunction: {code: ondisconnect}\n",
    )
    project = load_importing(folder / "wsgate.yaml", ProjectOptions(environ={}))
    functions = project.config.functions
    assert functions["OnConnectFunction"].code == folder.absolute() / "ondisconnect"
    assert functions["SendMessageFunction"].code == folder.absolute() / "sendmessage"
    assert project.imported == folder / "template.yaml"
    assert project.kind == "cloudformation"


@pytest.mark.parametrize(
    ("wsgate_yaml", "message"),
    [
        (
            "import: serverless.yml\nfunctions:\n  default: {timout: 3}\n",
            "wsgate.yaml: functions.default.timout: unknown key (known keys: runtime,",
        ),
        (
            "import: serverless.yml\nfunctions:\n  default: {timeout: soon}\n",
            "wsgate.yaml: functions.default.timeout: expected a number greater than 0",
        ),
        (
            "import: serverless.yml\nserver: {prot: 1}\n",
            "wsgate.yaml: server.prot: unknown key",
        ),
        (
            "import: serverless.yml\napis: {stage: x}\n",
            "wsgate.yaml: apis: unknown key",
        ),
        (
            "import: serverless.yml\nfunctions:\n  defualt: {timeout: 3}\n",
            "wsgate.yaml: functions.defualt: serverless.yml has no function 'defualt' "
            "(functions: connect, disconnect, default, sendMessage, auth, cleanup)",
        ),
        (
            "import: {path: serverless.yml, stagee: x}\n",
            "wsgate.yaml: import.stagee: unknown key (known keys: path, stage,",
        ),
        ("import: nothere.yml\n", "wsgate.yaml: import.path: "),
        ("import: {stage: x}\n", "wsgate.yaml: import.path: expected the file to import"),
        ("import: settings.yml\n", "is neither a serverless.yml nor a CloudFormation"),
        (
            "import: {path: serverless.yml, params: [a]}\n",
            "wsgate.yaml: import.params: expected a mapping",
        ),
        (
            "import: serverless.yml\nfunctions:\n  default:\n    environment: {AWS_REGION: x}\n",
            "wsgate.yaml: functions.default.environment.AWS_REGION: AWS_REGION is reserved",
        ),
    ],
)
def test_mistakes_name_the_wsgate_yaml_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wsgate_yaml: str, message: str
) -> None:
    folder = _folder(tmp_path, "sls-chat", wsgate_yaml)
    err = _error(capsys, "--config", str(folder / "wsgate.yaml"))
    assert message in err, err


def test_the_imported_files_errors_name_it(tmp_path: Path) -> None:
    """A mistake in the imported file is still named by that file and its key."""
    folder = _folder(tmp_path, "sam-chat", "import: template.yaml\n")
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace("Timeout: 20", "Timeout: soon"))
    with pytest.raises(ConfigError, match=r"template\.yaml: Resources\.SendMessageFunction"):
        load_importing(folder / "wsgate.yaml", ProjectOptions(environ={}))


def test_the_folder_serves_wsgate_yaml_first_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = _folder(tmp_path, "sls-chat", "import: serverless.yml\napi: {stage: mine}\n")
    monkeypatch.chdir(folder)
    with caplog.at_level(logging.INFO, logger="wsgate.project"):
        report = _report(capsys)
    assert report["file"] == "wsgate.yaml"
    assert report["api"]["stage"] == "mine"
    assert [r.getMessage() for r in caplog.records] == [
        "serving wsgate.yaml, the first of wsgate.yaml, serverless.yml here "
        "(--config serverless.yml serves that one alone)"
    ]


def test_env_in_the_wsgate_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """${env:...} in the wsgate.yaml, its import: options included."""
    folder = _folder(
        tmp_path,
        "sls-chat",
        "import: {path: serverless.yml, stage: '${env:LOCAL_STAGE}'}\n"
        "server: {port: '${env:LOCAL_PORT, 9200}'}\n",
    )
    monkeypatch.setenv("LOCAL_STAGE", "from-env")
    report = _report(capsys, "--config", str(folder / "wsgate.yaml"))
    assert report["api"]["stage"] == "from-env"
    assert report["server"]["ws"] == "ws://127.0.0.1:9200/from-env"

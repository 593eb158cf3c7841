"""``--env-file``: variables for every function, over the config's and the template's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.project.conftest import FIXTURES
from wsgate.cli import main


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status = main(["check", "--json", *argv])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert status == 0, report
    return report


def test_the_file_wins_over_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every function gets the file's variables, over Globals and its own; later files win."""
    first = tmp_path / "first.env"
    first.write_text("# local\nGREETING=from-first\nexport LOCAL_ONLY='a b'\nTABLE_NAME=first\n")
    second = tmp_path / "second.env"
    second.write_text('TABLE_NAME="second"\n')
    path = FIXTURES / "sam-chat" / "template.yaml"
    argv = ["--config", str(path), "--env-file", str(first), "--env-file", str(second)]
    report = _report(capsys, *argv)
    for function in report["functions"].values():
        assert function["environment"]["LOCAL_ONLY"] == "a b"
        assert function["environment"]["TABLE_NAME"] == "second"
    send = report["functions"]["SendMessageFunction"]["environment"]
    assert send["GREETING"] == "from-first"  # the function's own value, replaced
    assert send["TABLE_ARN"].endswith(":table/simplechat_connections")  # kept


def test_the_file_feeds_env_variables_and_the_shell_wins_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """${env:NAME} in a serverless.yml reads the file, unless the shell exports NAME."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "serverless.yml").write_text(
        "service: envy\n"
        "provider:\n"
        "  name: aws\n"
        "  runtime: python3.12\n"
        "  environment:\n"
        "    WHERE: at-${env:DEPLOY_SITE}\n"
        "functions:\n"
        "  main:\n"
        "    handler: app.handler\n"
        "    events: [{websocket: $default}]\n"
    )
    env = tmp_path / ".env"
    env.write_text("DEPLOY_SITE=laptop\n")
    monkeypatch.delenv("DEPLOY_SITE", raising=False)
    argv = ["--config", str(folder / "serverless.yml"), "--env-file", str(env)]
    assert report_where(_report(capsys, *argv)) == "at-laptop"
    monkeypatch.setenv("DEPLOY_SITE", "shell")
    assert report_where(_report(capsys, *argv)) == "at-shell"
    assert main(["check", "--config", str(folder / "serverless.yml")]) == 0
    monkeypatch.delenv("DEPLOY_SITE")
    assert main(["check", "--config", str(folder / "serverless.yml")]) == 2
    assert "environment variable DEPLOY_SITE is not set" in capsys.readouterr().out


def report_where(report: dict[str, Any]) -> str:
    value: str = report["functions"]["main"]["environment"]["WHERE"]
    return value


def test_in_process_handlers_get_the_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wsgate.yaml: handlers.environment, and ${env:...} in the file."""
    (tmp_path / "app.py").write_text("def handle(event, context):\n    return None\n")
    config = tmp_path / "wsgate.yaml"
    config.write_text(
        "api: {stage: '${env:LOCAL_STAGE}'}\n"
        "handlers: {environment: {MODE: yaml, KEEP: kept}}\n"
        "routes: {$default: app:handle}\n"
    )
    env = tmp_path / ".env"
    env.write_text("LOCAL_STAGE=from-file\nMODE=file\n")
    from wsgate.cli import _load, _parser

    args = _parser().parse_args(["check", "--config", str(config), "--env-file", str(env)])
    loaded = _load(args).config
    assert loaded.api.stage == "from-file"
    assert loaded.handlers.environment == {
        "MODE": "file",
        "KEEP": "kept",
        "LOCAL_STAGE": "from-file",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AWS_REGION=eu-west-1\n", "--env-file {env}: AWS_REGION: AWS_REGION is reserved"),
        ("1BAD=x\n", "--env-file {env}: 1BAD: invalid variable name"),
    ],
)
def test_names_a_function_may_not_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(text)
    path = FIXTURES / "sam-chat" / "template.yaml"
    assert main(["check", "--config", str(path), "--env-file", str(env)]) == 2
    assert message.format(env=env) in capsys.readouterr().err


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-chat", folder)
    argv = ["--config", str(folder / "template.yaml"), "--env-file", str(tmp_path / "no.env")]
    assert main(["check", *argv]) == 2
    assert f"--env-file {tmp_path / 'no.env'}: file not found" in capsys.readouterr().err

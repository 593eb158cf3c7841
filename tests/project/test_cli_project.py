"""``wsgate check``/``serve`` with a project file: detection, defaults and flags."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.project.conftest import FIXTURES
from wsgate.cli import main


def test_check_detects_a_template(capsys: pytest.CaptureFixture[str]) -> None:
    """--config template.yaml is read as a template, its notices printed."""
    path = FIXTURES / "sam-chat" / "template.yaml"
    assert main(["check", "--config", str(path), "--parameter-overrides", "Environment=prod"]) == 0
    out = capsys.readouterr().out
    assert "warning: Resources.ConnectionsTable: AWS::DynamoDB::Table is not created" in out
    assert "ok (stage Prod; routes: $connect, $disconnect, sendmessage)" in out


def test_default_file_order_in_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --config: serverless.yml before template.yaml; wsgate.yaml before both."""
    shutil.copytree(FIXTURES / "sls-chat", tmp_path, dirs_exist_ok=True)
    shutil.copytree(FIXTURES / "sam-chat", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--stage", "qa"]) == 0
    assert "serverless.yml: ok (stage qa;" in capsys.readouterr().out
    (tmp_path / "wsgate.yaml").write_text("api: {stage: local}\n")
    assert main(["check"]) == 0
    assert "wsgate.yaml: ok (stage local;" in capsys.readouterr().out


def test_no_config_in_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty folder names the files looked for."""
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    assert "no wsgate.yaml, serverless.yml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parameter-overrides", "Nope"], "--parameter-overrides 'Nope': expected KEY=VALUE"),
        (["--parameter-overrides", "A=1"], "is a wsgate.yaml, not a template"),
    ],
)
def test_bad_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Overrides must be KEY=VALUE, and only for project files."""
    config = tmp_path / "wsgate.yaml"
    config.write_text("")
    assert main(["check", "--config", str(config), *argv]) == 2
    assert message in capsys.readouterr().err


def test_template_error_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A template mistake exits 2 naming the file and the key path."""
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-chat", folder)
    path = folder / "template.yaml"
    path.write_text(path.read_text().replace("Timeout: 20", "Timeout: soon"))
    assert main(["check", "--config", str(path)]) == 2
    assert "template.yaml: Resources.SendMessageFunction.Properties.Timeout:" in (
        capsys.readouterr().err
    )

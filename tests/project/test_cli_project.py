"""``wsgate check``/``serve`` with a project file: detection, defaults and flags."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from yaml.composer import Composer

from tests.project.conftest import FIXTURES
from wsgate.cli import main
from wsgate.server.gateway import Gateway


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


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each YAML document was parsed, by the name it was parsed under
    (a file's source name; ``<unicode string>`` for text parsed without one)."""
    counts: Counter[str] = Counter()
    parse = Composer.get_single_node

    def counted(self: Any) -> Any:
        counts[self.name] += 1
        return parse(self)

    monkeypatch.setattr(Composer, "get_single_node", counted)
    return counts


def _project(tmp_path: Path, kind: str) -> tuple[Path, set[str]]:
    """A config of ``kind`` in ``tmp_path``, and the names of the YAML files it reads."""
    if kind == "wsgate.yaml":
        path = tmp_path / "wsgate.yaml"
        path.write_text("api: {stage: local}\nroutes: {}\n")
        return path, {str(path)}
    if kind == "template":
        shutil.copytree(FIXTURES / "sam-chat", tmp_path, dirs_exist_ok=True)
        path = tmp_path / "template.yaml"
        return path, {str(path)}
    shutil.copytree(FIXTURES / "sls-chat", tmp_path, dirs_exist_ok=True)
    service = tmp_path / "serverless.yml"
    read = {str(service), "./settings.yml"}  # ${file(./settings.yml):color}
    if kind == "serverless.yml":
        return service, read
    path = tmp_path / "wsgate.yaml"
    path.write_text("import: serverless.yml\napi: {stage: local}\n")
    return path, {*read, str(path)}


KINDS = ["wsgate.yaml", "serverless.yml", "template", "wsgate.yaml importing serverless.yml"]


@pytest.mark.parametrize("kind", KINDS)
def test_check_parses_each_file_once(
    tmp_path: Path, kind: str, parses: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``wsgate check`` reads and parses each YAML file of the config once, however many
    times it asks what the file is."""
    path, files = _project(tmp_path, kind)
    assert main(["check", "--config", str(path)]) == 0, capsys.readouterr().err
    assert parses == dict.fromkeys(files, 1)


@pytest.mark.parametrize("kind", KINDS)
def test_serve_parses_each_file_once(
    tmp_path: Path, kind: str, parses: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """So does ``wsgate serve``'s load, hot reload's choice included."""
    path, files = _project(tmp_path, kind)
    watchers: list[object] = []

    async def serve(gateway: Gateway, *args: Any, watcher: object = None) -> int:
        watchers.append(watcher)
        gateway.runners.threads.shutdown()
        gateway.runners.handshake_threads.shutdown()
        return 0

    monkeypatch.setattr("wsgate.server.runner.serve", serve)
    assert main(["serve", "--config", str(path)]) == 0
    assert parses == dict.fromkeys(files, 1)
    # Reload by default for a project file, or a wsgate.yaml importing one.
    assert (watchers[0] is not None) == (kind != "wsgate.yaml")

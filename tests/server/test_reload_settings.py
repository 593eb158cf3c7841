"""What a reload may change on a running gateway, when ``wsgate serve`` reloads, and how
a change is told to be a module's."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wsgate.config.model import GatewayConfig
from wsgate.server import reload
from wsgate.server.config_split import live_config
from wsgate.server.reload import ModuleFiles, reload_wanted


def config(**sections: Any) -> GatewayConfig:
    base: dict[str, Any] = {"routes": {"$default": "mod:handler"}}
    return GatewayConfig.model_validate({**base, **sections})


def test_live_settings_are_taken_and_the_others_kept_and_named() -> None:
    running = config(api={"stage": "dev", "idle_timeout": 600})
    new = config(
        api={"stage": "prod", "idle_timeout": 60, "route_selection_expression": "$request.body.a"},
        server={"port": 9000},
        routes={"$default": "mod:handler", "ping": "mod:ping"},
        registry={"prefix": "other"},
    )
    served, restart = live_config(running, new)
    assert restart == ["server.port", "registry.prefix", "api.stage"]
    assert served.api.stage == "dev" and served.server.port == running.server.port
    assert served.registry == running.registry
    assert served.api.idle_timeout == 60
    assert served.api.route_selection_expression == "$request.body.a"
    assert set(served.routes) == {"$default", "ping"}


def test_a_secret_changed_is_named_though_it_prints_the_same() -> None:
    def credential(secret: str) -> dict[str, Any]:
        return {
            "auth": "sigv4",
            "credentials": [{"access_key_id": "AKIDEXAMPLE", "secret_access_key": secret}],
        }

    running = config(management=credential("one"))
    _served, restart = live_config(running, config(management=credential("two")))
    assert restart == ["management.credentials"]


def test_nothing_changed_needs_no_restart() -> None:
    served, restart = live_config(config(), config())
    assert restart == [] and served == config()


@pytest.mark.parametrize(
    ("flag", "project", "workers", "wanted"),
    [
        (None, True, 1, True),  # a serverless.yml or template: local development
        (None, False, 1, False),  # a wsgate.yaml: a gateway in production
        (None, True, 2, False),  # --workers: production too
        (True, False, 2, True),
        (False, True, 1, False),
    ],
)
def test_reload_by_default_for_a_project_in_one_process(
    flag: bool | None, project: bool, workers: int, wanted: bool
) -> None:
    assert reload_wanted(flag, project=project, workers=workers) is wanted


def test_changed_files_name_their_modules_each_file_resolved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of changes finds the modules loaded from the changed files; a module's
    file is resolved the first time it is seen, and again only once imported anew."""
    name = f"reload_probe_{tmp_path.name.replace('-', '_')}"
    source = tmp_path / f"{name}.py"
    source.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    resolved: list[str] = []
    module_file = reload._module_file

    def counted(module: ModuleType) -> Path | None:
        resolved.append(module.__name__)
        return module_file(module)

    monkeypatch.setattr(reload, "_module_file", counted)
    files = ModuleFiles()
    try:
        first = importlib.import_module(name)
        assert files.of({source.resolve()}) == [first]
        assert name in resolved
        resolved.clear()
        seen = set(sys.modules)
        assert files.of({source.resolve()}) == [first]
        assert files.of({tmp_path / "other.py"}) == []
        assert set(resolved) <= set(sys.modules) - seen  # only what was imported since
        del sys.modules[name]
        again = importlib.import_module(name)
        assert files.of({source.resolve()}) == [again]
        assert name in resolved
    finally:
        sys.modules.pop(name, None)

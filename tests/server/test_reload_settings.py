"""What a reload may change on a running gateway, and when ``wsgate serve`` reloads."""

from __future__ import annotations

from typing import Any

import pytest

from wsgate.config.model import GatewayConfig
from wsgate.server.config_split import live_config
from wsgate.server.reload import reload_wanted


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

"""Throttles in wsgate.yaml: the stage's default, a route's own, and their fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from wsgate.config.files import load_config
from wsgate.config.throttle import ThrottleSettings, resolve_throttle
from wsgate.core.throttle import ACCOUNT_BURST, ACCOUNT_RATE
from wsgate.exceptions import ConfigError


def _settings(**values: Any) -> ThrottleSettings:
    return ThrottleSettings.model_validate(values)


def test_nothing_set_means_no_throttle() -> None:
    assert resolve_throttle(None, None) is None


def test_a_route_s_values_win_over_the_stage_s_per_value() -> None:
    stage = _settings(rate=50, burst=20)
    assert resolve_throttle(stage, None) == (50.0, 20)
    assert resolve_throttle(stage, _settings(burst=5)) == (50.0, 5)
    assert resolve_throttle(stage, _settings(rate=0)) == (0.0, 20)


def test_values_set_nowhere_are_aws_s_account_limits() -> None:
    assert resolve_throttle(_settings(rate=10), None) == (10.0, ACCOUNT_BURST)
    assert resolve_throttle(None, _settings(burst=0)) == (ACCOUNT_RATE, 0)


def _write(tmp_path: Any, text: str) -> Any:
    path = tmp_path / "wsgate.yaml"
    path.write_text(text)
    return path


def test_throttles_are_read_from_the_file(tmp_path: Any) -> None:
    config = load_config(
        _write(
            tmp_path,
            "api:\n  throttle: {rate: 100, burst: 50}\n"
            "routes:\n  send:\n    handler: app:send\n    throttle: {rate: 2.5}\n",
        )
    )
    assert config.api.throttle == _settings(rate=100, burst=50)
    assert config.routes["send"].throttle == _settings(rate=2.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api:\n  throttle: {rate: -1}\n", "api.throttle.rate"),
        ("api:\n  throttle: {burst: 1.5}\n", "api.throttle.burst"),
        ("api:\n  throttle: {rates: 1}\n", "api.throttle.rates"),
        (
            "routes:\n  $disconnect:\n    handler: app:bye\n    throttle: {rate: 1}\n",
            "$disconnect is never throttled",
        ),
    ],
)
def test_bad_throttles_get_a_precise_error(tmp_path: Any, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        load_config(_write(tmp_path, text))

"""The in-process hook joins botocore only when botocore has everything it uses."""

from __future__ import annotations

import logging
import sys
from types import ModuleType
from typing import Any

import botocore.endpoint
import botocore.parsers
import pytest

from wsgate.server.inprocess.hook import EVENT, USES, before_call
from wsgate.server.inprocess.install import add_to_botocore


def fake_handlers(builtin: list[Any] | None) -> ModuleType:
    """A stand-in for ``botocore.handlers``, so the real one keeps its handlers."""
    module = ModuleType("botocore.handlers")
    if builtin is not None:
        module.__dict__["BUILTIN_HANDLERS"] = builtin
    return module


@pytest.fixture(autouse=True)
def _no_default_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default session is left alone: the hook would join it too."""
    monkeypatch.delitem(sys.modules, "boto3", raising=False)


def test_the_names_checked_are_the_ones_used() -> None:
    assert set(USES) == {
        "botocore.awsrequest.AWSResponse",
        "botocore.endpoint.convert_to_response_dict",
        "botocore.exceptions.ReadTimeoutError",
        "botocore.parsers.create_parser",
    }


def test_a_complete_botocore_gets_the_hook() -> None:
    builtin: list[Any] = []
    assert add_to_botocore(fake_handlers(builtin))
    assert builtin == [(EVENT, before_call)]
    assert add_to_botocore(fake_handlers(builtin))  # not twice
    assert builtin == [(EVENT, before_call)]


@pytest.mark.parametrize(
    ("module", "name"),
    [(botocore.parsers, "create_parser"), (botocore.endpoint, "convert_to_response_dict")],
)
def test_a_missing_name_is_logged_once_and_calls_stay_on_http(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    module: ModuleType,
    name: str,
) -> None:
    monkeypatch.delattr(module, name)
    builtin: list[Any] = []
    with caplog.at_level(logging.WARNING, logger="wsgate.inprocess"):
        assert not add_to_botocore(fake_handlers(builtin))
    assert builtin == []
    [record] = caplog.records
    assert f"{module.__name__}.{name}" in record.getMessage()
    assert "over HTTP" in record.getMessage()


def test_botocore_handlers_without_its_builtin_list_is_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="wsgate.inprocess"):
        assert not add_to_botocore(fake_handlers(None))
    [record] = caplog.records
    assert "botocore.handlers.BUILTIN_HANDLERS" in record.getMessage()

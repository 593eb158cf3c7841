"""The in-process hook joins botocore only when botocore has everything it uses; the client
class's shortcuts only when botocore's client has the methods they override."""

from __future__ import annotations

import logging
import sys
from types import ModuleType
from typing import Any

import botocore.client
import botocore.endpoint
import botocore.parsers
import pytest

from wsgate.server.inprocess.hook import EVENT, USES, before_call
from wsgate.server.inprocess.install import add_to_botocore
from wsgate.server.inprocess.shortcut import CLASS_EVENT, add_shortcuts, mismatched


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


def test_a_complete_botocore_gets_the_hook_and_the_shortcuts() -> None:
    builtin: list[Any] = []
    assert add_to_botocore(fake_handlers(builtin))
    assert builtin == [(EVENT, before_call), (CLASS_EVENT, add_shortcuts)]
    assert add_to_botocore(fake_handlers(builtin))  # not twice
    assert builtin == [(EVENT, before_call), (CLASS_EVENT, add_shortcuts)]


def test_this_botocores_client_has_what_the_shortcuts_override() -> None:
    assert mismatched(botocore.client.BaseClient) == []


def test_a_client_method_with_other_parameters_is_named() -> None:
    class Other:
        def _resolve_endpoint_ruleset(self, operation_model: Any, params: Any) -> None: ...

        def _convert_to_request_dict(
            self,
            api_params: Any,
            operation_model: Any,
            endpoint_url: Any,
            context: Any = None,
            headers: Any = None,
            set_user_agent_header: bool = True,
        ) -> None: ...

    assert mismatched(Other) == ["Other._resolve_endpoint_ruleset"]
    assert mismatched(object) == [
        "object._resolve_endpoint_ruleset",
        "object._convert_to_request_dict",
    ]


def test_without_the_methods_the_hook_joins_alone_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delattr(botocore.client.BaseClient, "_convert_to_request_dict")
    builtin: list[Any] = []
    with caplog.at_level(logging.WARNING, logger="wsgate.inprocess"):
        assert add_to_botocore(fake_handlers(builtin))
    assert builtin == [(EVENT, before_call)]
    [record] = caplog.records
    assert "BaseClient._convert_to_request_dict" in record.getMessage()
    assert "resolve their endpoint as remote ones" in record.getMessage()


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

"""A management answer given in process is what botocore's own parser makes of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from wsgate.server.inprocess import responses
from wsgate.server.inprocess.responses import botocore_response


URL = "http://127.0.0.1:9/dev/@connections/AAAAAAAAAAAAAAA%3D"


@pytest.fixture(autouse=True)
def _unverified() -> Iterator[None]:
    """Each test starts with no operation's shortcut verified."""
    saved = dict(responses._SAME_AS_BOTOCORE)
    responses._SAME_AS_BOTOCORE.clear()
    yield
    responses._SAME_AS_BOTOCORE.clear()
    responses._SAME_AS_BOTOCORE.update(saved)


def _model(operation: str) -> Any:
    service = botocore.session.get_session().get_service_model("apigatewaymanagementapi")
    return service.operation_model(operation)


@pytest.mark.parametrize(
    ("operation", "status"), [("PostToConnection", 200), ("DeleteConnection", 204)]
)
def test_a_bodiless_success_equals_botocores_parse_before_and_after_it_is_verified(
    operation: str, status: int
) -> None:
    model = _model(operation)
    for request_id in ("first-id", "second-id", "third-id"):
        headers = {"x-amzn-RequestId": request_id}
        http, parsed = botocore_response(model, URL, (status, headers, b""))
        assert parsed == responses._parsed(model, http, status)  # botocore's, same headers
        assert parsed["ResponseMetadata"]["RequestId"] == request_id
        assert parsed["ResponseMetadata"]["RetryAttempts"] == 0
    assert responses._SAME_AS_BOTOCORE == {("rest-json", operation): True}


def test_a_botocore_that_parses_more_keeps_its_own_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were botocore to read more from a bodiless success, its parse is what callers get."""
    model = _model("PostToConnection")
    real = responses._parser("rest-json")

    class _ParsesMore:
        def parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
            parsed: dict[str, Any] = real.parse(response, shape)
            parsed["ResponseMetadata"]["HostId"] = "from-a-newer-botocore"
            return parsed

    monkeypatch.setattr(responses, "_parser", lambda protocol: _ParsesMore())
    for request_id in ("first-id", "second-id"):
        _, parsed = botocore_response(model, URL, (200, {"x-amzn-RequestId": request_id}, b""))
        assert parsed["ResponseMetadata"]["HostId"] == "from-a-newer-botocore"
        assert parsed["ResponseMetadata"]["RequestId"] == request_id
    assert responses._SAME_AS_BOTOCORE == {("rest-json", "PostToConnection"): False}


def test_answers_with_a_body_always_go_through_botocores_parser() -> None:
    model = _model("GetConnection")
    body = b'{"connectedAt":"2026-12-06T00:00:00.000Z","lastActiveAt":"2026-12-06T00:00:01.000Z"}'
    _, parsed = botocore_response(model, URL, (200, {"x-amzn-RequestId": "an-id"}, body))
    assert parsed["ConnectedAt"].year == 2026
    assert responses._SAME_AS_BOTOCORE == {}

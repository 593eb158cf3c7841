"""The framing rules of the front door's own management answers."""

from __future__ import annotations

import pytest

from wsgate.core.http1 import http_date, plain_body_length, response, wants_close


@pytest.mark.parametrize(
    ("headers", "length"),
    [
        ({}, 0),
        ({"content-length": "11"}, 11),
        ({"content-length": "100"}, 100),
        ({"content-length": "101"}, None),
        ({"content-length": "-1"}, None),
        ({"content-length": "1e3"}, None),
        ({"content-length": "99999999999"}, None),
        ({"content-length": "5", "transfer-encoding": "chunked"}, None),
        ({"transfer-encoding": "chunked"}, None),
        ({"expect": "100-continue", "content-length": "5"}, None),
    ],
)
def test_only_a_plain_content_length_within_the_limit_is_taken(
    headers: dict[str, str], length: int | None
) -> None:
    assert plain_body_length(headers, 100) == length


def test_wants_close() -> None:
    assert wants_close({"connection": "Close"})
    assert wants_close({"connection": "keep-alive, close"})
    assert not wants_close({"connection": "keep-alive"})
    assert not wants_close({})


def test_response_has_length_date_server_and_close_only_when_asked() -> None:
    answer = response(410, {"x-amzn-ErrorType": "GoneException"}, b"{}", False, 0, "srv")
    head, body = answer.split(b"\r\n\r\n")
    assert body == b"{}"
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 410 Gone",
        b"x-amzn-ErrorType: GoneException",
        b"Content-Length: 2",
        b"Date: Thu, 01 Jan 1970 00:00:00 GMT",
        b"Server: srv",
    ]
    assert response(200, {}, b"", True, 0, "srv").endswith(b"Connection: close\r\n\r\n")


def test_a_204_has_no_content_length() -> None:
    assert b"Content-Length" not in response(204, {}, b"", False, 0, "srv")


def test_http_date_is_rfc_9110() -> None:
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"

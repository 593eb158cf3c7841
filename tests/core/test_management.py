"""Tests for wsgate.core.management."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.management import (
    ConnectionPath,
    WrongStage,
    connection_info_body,
    format_iso8601_ms,
    parse_management_path,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/prod/@connections/L0SM9cOFvHcCIhw%3D", ConnectionPath("L0SM9cOFvHcCIhw=")),
        ("/prod/@connections/L0SM9cOFvHcCIhw=", ConnectionPath("L0SM9cOFvHcCIhw=")),
        ("/prod/%40connections/L0SM9cOFvHcCIhw%3d", ConnectionPath("L0SM9cOFvHcCIhw=")),
        ("/prod/%40Connections/x", None),
        ("/@connections/L0SM9cOFvHcCIhw%3D", ConnectionPath("L0SM9cOFvHcCIhw=")),
        ("/%40connections/abc", ConnectionPath("abc")),
        ("/prod/@connections/a%2Fb", ConnectionPath("a/b")),
        ("/prod/@connections/x?foo=bar", ConnectionPath("x")),
        ("/dev/@connections/x", WrongStage("dev")),
        ("/pr%6Fd/@connections/x", ConnectionPath("x")),
        ("/other%20stage/%40connections/x", WrongStage("other stage")),
        ("/prod/@connections/", None),
        ("/prod/@connections", None),
        ("/@connections", None),
        ("/@connections/", None),
        ("/prod/@connections/x/", None),
        ("/prod/@connections/x/y", None),
        ("/prod/connections/x", None),
        ("/prod/x", None),
        ("//@connections/x", None),
        ("prod/@connections/x", None),
        ("", None),
        ("/", None),
        ("/a/b/@connections/x", None),
    ],
)
def test_parse_management_path(path: str, expected: object) -> None:
    """Both spellings, with or without stage, decode the id; everything else is rejected."""
    assert parse_management_path(path, "prod") == expected


@given(st.text(min_size=1))
def test_any_id_round_trips_through_percent_encoding(connection_id: str) -> None:
    """Whatever the id, its percent-encoded form parses back to it."""
    encoded = quote(connection_id, safe="")
    assert parse_management_path(f"/prod/@connections/{encoded}", "prod") == ConnectionPath(
        connection_id
    )


def test_format_iso8601_ms() -> None:
    """Milliseconds are kept, with a Z suffix."""
    assert format_iso8601_ms(1643136604673) == "2022-01-25T18:50:04.673Z"
    assert format_iso8601_ms(0) == "1970-01-01T00:00:00.000Z"
    assert format_iso8601_ms(1643136607002) == "2022-01-25T18:50:07.002Z"


@given(st.integers(min_value=0, max_value=253402300799999))
def test_format_iso8601_ms_round_trips(epoch_ms: int) -> None:
    """datetime parses the text back to the same millisecond."""
    parsed = datetime.strptime(format_iso8601_ms(epoch_ms), "%Y-%m-%dT%H:%M:%S.%fZ")
    delta = parsed.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    assert delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000 == (epoch_ms)


def test_connection_info_body_exact() -> None:
    """The GetConnection body has AWS's keys; userAgent is null when absent."""
    assert connection_info_body(1643136604673, 1643136607642, "192.0.2.1", None) == (
        b'{"connectedAt":"2022-01-25T18:50:04.673Z",'
        b'"identity":{"sourceIp":"192.0.2.1","userAgent":null},'
        b'"lastActiveAt":"2022-01-25T18:50:07.642Z"}'
    )
    body = orjson.loads(connection_info_body(0, 1, "::1", 'agent "x"'))
    assert body["identity"] == {"sourceIp": "::1", "userAgent": 'agent "x"'}

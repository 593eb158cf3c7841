"""Tests for wsgate.core.identity."""

from __future__ import annotations

import pytest

from tests.core.requests import make_request
from wsgate.core.identity import (
    IdentitySource,
    missing_identity,
    parse_identity_source,
    read_identity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("route.request.header.Auth", IdentitySource("header", "Auth")),
        ("route.request.header.X-Api-Key", IdentitySource("header", "X-Api-Key")),
        ("route.request.querystring.token", IdentitySource("querystring", "token")),
        ("route.request.querystring.a.b", IdentitySource("querystring", "a.b")),
    ],
)
def test_parse_identity_source(text: str, expected: IdentitySource) -> None:
    """Both documented forms parse into kind and name."""
    assert parse_identity_source(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Auth",
        "route.request.header.",
        "route.request.header.Bad Name",
        "route.request.querystring.",
        "route.request.body.x",
        "stageVariables.x",
        "method.request.header.Auth",
    ],
)
def test_parse_identity_source_rejects_other_forms(text: str) -> None:
    """Anything else raises ValueError naming the text and the accepted forms."""
    with pytest.raises(ValueError) as info:
        parse_identity_source(text)
    message = str(info.value)
    assert repr(text) in message
    assert "route.request.header.<Name>" in message
    assert "route.request.querystring.<name>" in message


def test_parse_identity_source_hints_at_http_api_syntax() -> None:
    """The HTTP-API spelling gets a hint."""
    with pytest.raises(ValueError, match="HTTP API syntax"):
        parse_identity_source("$request.header.Authorization")


def test_read_identity_header_is_case_insensitive() -> None:
    """Header sources match names in any case; the last value wins."""
    request = make_request(headers=(("auth", "first"), ("AUTH", "second")))
    assert read_identity(IdentitySource("header", "Auth"), request) == "second"


def test_read_identity_query_is_case_sensitive() -> None:
    """Query sources match names exactly."""
    request = make_request(query=(("Token", "x"),))
    assert read_identity(IdentitySource("querystring", "token"), request) is None
    assert read_identity(IdentitySource("querystring", "Token"), request) == "x"


def test_read_identity_query_last_value_wins() -> None:
    """A repeated query name yields its last value."""
    request = make_request(query=(("t", "1"), ("t", "2")))
    assert read_identity(IdentitySource("querystring", "t"), request) == "2"


def test_read_identity_empty_counts_as_missing() -> None:
    """An empty header or query value reads as None."""
    request = make_request(headers=(("Auth", ""),), query=(("t", ""),))
    assert read_identity(IdentitySource("header", "Auth"), request) is None
    assert read_identity(IdentitySource("querystring", "t"), request) is None


def test_missing_identity_lists_every_absent_source_in_order() -> None:
    """All absent or empty sources are returned, present ones are not."""
    sources = [
        IdentitySource("header", "Auth"),
        IdentitySource("querystring", "t"),
        IdentitySource("header", "Present"),
        IdentitySource("querystring", "empty"),
    ]
    request = make_request(headers=(("Present", "yes"),), query=(("empty", ""),))
    assert missing_identity(sources, request) == [sources[0], sources[1], sources[3]]


def test_missing_identity_with_no_sources_is_empty() -> None:
    """No configured sources means nothing is missing (always invoke)."""
    assert missing_identity([], make_request()) == []


def test_missing_identity_all_present() -> None:
    """Nothing is missing when every source has a value."""
    sources = [IdentitySource("header", "Auth"), IdentitySource("querystring", "t")]
    request = make_request(headers=(("Auth", "a"),), query=(("t", "b"),))
    assert missing_identity(sources, request) == []


def test_forwarded_headers_read_as_the_gateways_own() -> None:
    """X-Forwarded-For/Port/Proto are the gateway's values, as in the authorizer's event:
    present for a plain client, and a client's own cannot satisfy or change them."""
    plain = make_request(headers=(("Host", "h"),))
    spoofed = make_request(
        headers=(
            ("x-forwarded-proto", "bogus"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-Port", "1"),
            ("Host", "h"),
        )
    )
    for request in (plain, spoofed):
        assert read_identity(IdentitySource("header", "X-Forwarded-Proto"), request) == "https"
        assert read_identity(IdentitySource("header", "x-forwarded-for"), request) == "192.0.2.1"
        assert read_identity(IdentitySource("header", "X-Forwarded-Port"), request) == "443"
        assert [
            value for name, value in request.headers if name.lower() == "x-forwarded-proto"
        ] == ["https"]
    assert spoofed.header("Host") == "h"


def test_the_authorizer_event_and_the_identity_check_see_the_same_headers() -> None:
    """Every header the authorizer event carries reads the same through an identity source
    (but the trace id, which each event makes from its own request id)."""
    from wsgate.core.events import authorizer_event
    from wsgate.core.request import ApiContext, ConnectionContext

    request = make_request(headers=(("X-Forwarded-Proto", "bogus"), ("Auth", "a")))
    api = ApiContext("abcdef1234", "dev", "example.com", "us-east-1", "123456789012")
    conn = ConnectionContext("L0SM9cOFvHcCIhw=", 1, "192.0.2.1", None)
    event = authorizer_event(api, conn, request, "R1knPH17NjMFftw=", 1)
    headers = event["headers"]
    assert isinstance(headers, dict)
    assert headers["X-Forwarded-Proto"] == "https"
    for name, value in headers.items():
        if name == "X-Amzn-Trace-Id":
            continue
        assert read_identity(IdentitySource("header", name), request) == (value or None)

"""Tests for wsgate.core.request."""

from __future__ import annotations

import dataclasses

import pytest

from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest


def make_request(headers: tuple[tuple[str, str], ...]) -> HandshakeRequest:
    return HandshakeRequest(
        headers=headers, query=(), has_query=False, source_ip="192.0.2.1", port=443, scheme="https"
    )


def test_header_is_case_insensitive_and_last_value_wins() -> None:
    """header() ignores name case and returns the last of repeated values."""
    request = make_request((("X-Token", "a"), ("Host", "h"), ("x-token", "b")))
    assert request.header("X-TOKEN") == "b"
    assert request.header("host") == "h"
    assert request.header("missing") is None


def test_user_agent() -> None:
    """user_agent finds User-Agent in any case, or None."""
    assert make_request((("user-agent", "wscat/5"),)).user_agent == "wscat/5"
    assert make_request((("Host", "h"),)).user_agent is None


def test_handshake_request_is_read_only() -> None:
    """HandshakeRequest cannot be modified."""
    request = make_request(())
    with pytest.raises(AttributeError):
        request.port = 80  # type: ignore[misc]
    with pytest.raises(AttributeError):
        request.headers = ()  # type: ignore[misc]


def test_connect_method_arn() -> None:
    """The methodArn has no HTTP verb and ends in /$connect."""
    api = ApiContext("abcdef123", "default", "example.com", "us-east-1", "123456789012")
    assert api.connect_method_arn == (
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/default/$connect"
    )


def test_connect_method_arn_follows_the_fields() -> None:
    """The ARN, computed once, is recomputed by replace() and left out of == and repr."""
    api = ApiContext("abcdef123", "default", "example.com", "us-east-1", "123456789012")
    moved = dataclasses.replace(api, stage="prod", domain_name="other.example.com")
    assert moved.connect_method_arn.endswith("abcdef123/prod/$connect")
    assert api == ApiContext("abcdef123", "default", "example.com", "us-east-1", "123456789012")
    assert "arn:" not in repr(api)
    with pytest.raises(dataclasses.FrozenInstanceError):
        api.connect_method_arn = "arn:forged"  # type: ignore[misc]


def test_connection_context_authorizer_can_be_filled_later() -> None:
    """ConnectionContext defaults to no authorizer and accepts one afterwards."""
    conn = ConnectionContext("L0SM9cOFvHcCIhw=", 1707502303419, "192.0.2.1", None)
    assert conn.authorizer is None
    conn.authorizer = {"principalId": "u"}
    assert conn.authorizer == {"principalId": "u"}


def test_the_view_holds_only_the_gateways_forwarded_headers_even_when_copied() -> None:
    """A client's X-Forwarded-* go wherever they stand, also when the headers end with
    exactly the gateway's own three (a copy of another request's view, or a client that
    sent them so); the lower-cased names run beside the client's headers."""
    view = make_request((("Host", "h"),)).headers
    request = make_request((("X-Forwarded-For", "10.6.6.6"), *view))
    assert request.headers == view
    assert request.lowered == ("host",)
    assert [name for name, _ in request.headers].count("X-Forwarded-For") == 1

"""The framing rules of requests (RFC 9112 §3.2, §6, §9.3) and of the front door's own
management answers."""

from __future__ import annotations

import re

import pytest

from wsgate.core.http1 import Framing, http_date, request_framing, response
from wsgate.core.upgrade import BadRequest, parse_head


def framing(*fields: str, version: str = "HTTP/1.1") -> Framing:
    head = parse_head("\r\n".join([f"POST /dev/@connections/x {version}", *fields]).encode())
    return request_framing(head)


@pytest.mark.parametrize(
    ("fields", "length"),
    [
        (("Host: h",), 0),
        (("Host: h", "Content-Length: 11"), 11),
        (("Host: h", "content-length:  0 "), 0),
        (("Host: h", "Content-Length: 007"), 7),
        (("Host: h", "Content-Length: 999999999999999999"), 999999999999999999),
        (("Host: h", "Transfer-Encoding: chunked"), None),
        (("Host: h", "transfer-encoding: Chunked"), None),
    ],
)
def test_the_body_is_framed_by_one_length_or_by_chunked(
    fields: tuple[str, ...], length: int | None
) -> None:
    assert framing(*fields).length == length


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (("Host: h", "Content-Length: 5", "Content-Length: 5"), "Content-Length more than once"),
        (("Host: h", "Content-Length: 5", "Content-Length: 6"), "Content-Length more than once"),
        (("Host: h", "Content-Length: 5, 5"), "not a number"),
        (("Host: h", "Content-Length: -1"), "not a number"),
        (("Host: h", "Content-Length: +5"), "not a number"),
        (("Host: h", "Content-Length: 0x5"), "not a number"),
        (("Host: h", "Content-Length: 1e3"), "not a number"),
        (("Host: h", "Content-Length: 1_000"), "not a number"),
        (("Host: h", "Content-Length: 5 5"), "not a number"),
        (("Host: h", "Content-Length: ５"), "not a number"),  # a fullwidth digit
        (("Host: h", "Content-Length: ²"), "not a number"),
        (("Host: h", "Content-Length:"), "not a number"),
        (("Host: h", "Content-Length: 1000000000000000000"), "of 19 digits"),
        (("Host: h", "Content-Length: 99999999999999999999999"), "of 23 digits"),
        (("Host: h", "Content-Length: 0", "Transfer-Encoding: chunked"), "both"),
        (("Host: h", "Transfer-Encoding: chunked", "Content-Length: 5"), "both"),
        (("Host: h", "Transfer-Encoding: chunked, identity"), "single final chunked"),
        (("Host: h", "Transfer-Encoding: identity"), "single final chunked"),
        (("Host: h", "Transfer-Encoding: xchunked"), "single final chunked"),
        (("Host: h", "Transfer-Encoding: chunked, chunked"), "single final chunked"),
        (("Host: h", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), "single"),
        (("Host: h", "Transfer-Encoding: , chunked"), "single final chunked"),
        (("Host: h", "Transfer-Encoding:"), "single final chunked"),
        (("Host: h", 'Transfer-Encoding: "chunked"'), "single final chunked"),
    ],
)
def test_a_body_two_parsers_could_delimit_differently_is_400(
    fields: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(BadRequest, match=re.escape(reason)) as raised:
        framing(*fields)
    assert raised.value.status == 400


@pytest.mark.parametrize("codings", [("gzip, chunked",), ("gzip", "chunked"), ("deflate,chunked",)])
def test_a_coding_before_chunked_is_501(codings: tuple[str, ...]) -> None:
    with pytest.raises(BadRequest, match="not implemented") as raised:
        framing("Host: h", *(f"Transfer-Encoding: {coding}" for coding in codings))
    assert raised.value.status == 501


def test_transfer_encoding_in_http_1_0_is_400() -> None:
    with pytest.raises(BadRequest, match="HTTP/1.0"):
        framing("Transfer-Encoding: chunked", version="HTTP/1.0")


@pytest.mark.parametrize(
    ("fields", "version", "reason"),
    [
        ((), "HTTP/1.1", "no Host"),
        (("Content-Length: 0",), "HTTP/1.1", "no Host"),
        (("Host: a", "Host: a"), "HTTP/1.1", "Host more than once"),
        (("Host: a", "host: b"), "HTTP/1.0", "Host more than once"),
        (("Host: a b",), "HTTP/1.1", "invalid Host"),
        (("Host: a/b",), "HTTP/1.1", "invalid Host"),
        (("Host: a@b",), "HTTP/1.1", "invalid Host"),
        (("Host: a:b",), "HTTP/1.1", "invalid Host"),
        (("Host: a, b",), "HTTP/1.1", "invalid Host"),
        (("Host: [::1",), "HTTP/1.1", "invalid Host"),
        (("Host: exämple.com",), "HTTP/1.1", "invalid Host"),
    ],
)
def test_host_must_come_once_and_be_a_host(
    fields: tuple[str, ...], version: str, reason: str
) -> None:
    with pytest.raises(BadRequest, match=reason):
        framing(*fields, version=version)


@pytest.mark.parametrize(
    ("host", "version"),
    [
        ("Host: example.com", "HTTP/1.1"),
        ("Host: example.com:8443", "HTTP/1.1"),
        ("Host: 127.0.0.1:80", "HTTP/1.1"),
        ("Host: [::1]:8080", "HTTP/1.1"),
        ("Host: xn--exmple-cua.com", "HTTP/1.1"),
        ("Host:", "HTTP/1.1"),  # RFC 9112 §3.2: empty when the target has no authority
        ("X-Not-Host: 1", "HTTP/1.0"),  # HTTP/1.0 need not send one
    ],
)
def test_good_hosts(host: str, version: str) -> None:
    assert framing(host, version=version).length == 0


@pytest.mark.parametrize(
    ("fields", "version", "keep_alive"),
    [
        ((), "HTTP/1.1", True),
        (("Connection: keep-alive",), "HTTP/1.1", True),
        (("Connection: close",), "HTTP/1.1", False),
        (("Connection: Close",), "HTTP/1.1", False),
        (("Connection: keep-alive, close",), "HTTP/1.1", False),
        (("Connection: keep-alive", "Connection: close"), "HTTP/1.1", False),
        (("Connection: closed",), "HTTP/1.1", True),  # a token, not a substring
        (("Connection: not-close",), "HTTP/1.1", True),
        ((), "HTTP/1.0", False),
        (("Connection: keep-alive",), "HTTP/1.0", True),
        (("Connection: Keep-Alive",), "HTTP/1.0", True),
        (("Connection: keep-alive, close",), "HTTP/1.0", False),
        (("Connection: keep-alived",), "HTTP/1.0", False),
    ],
)
def test_keep_alive(fields: tuple[str, ...], version: str, keep_alive: bool) -> None:
    assert framing("Host: h", *fields, version=version).keep_alive is keep_alive


def test_expect_is_noted() -> None:
    assert framing("Host: h", "Expect: 100-continue", "Content-Length: 5").expect
    assert not framing("Host: h", "Content-Length: 5").expect


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

"""The upgrade request's head, key and answers, as RFC 6455 §4 and AWS spell them."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.utils import accept_key as websockets_accept

from wsgate.core.upgrade import (
    BadRequest,
    accept_key,
    is_valid_key,
    parse_head,
    parse_query,
    path_segment,
    refusal,
    switching_protocols,
)


def test_head_keeps_header_case_order_and_duplicates() -> None:
    head = parse_head(
        b"GET /dev?token=a&x HTTP/1.1\r\nHost: h\r\nX-Two: 1\r\nx-two:  2 \r\nUpgrade: websocket"
    )
    assert head.method == "GET"
    assert head.path == "/dev"
    assert head.query == "token=a&x"
    assert head.headers == (("Host", "h"), ("X-Two", "1"), ("x-two", "2"), ("Upgrade", "websocket"))
    assert head.header("x-two") == "2"
    assert head.header("missing") is None


def test_header_values_are_read_as_utf8_else_latin1() -> None:
    assert parse_head("GET / HTTP/1.1\r\nX-Name: Jürgen".encode()).headers == (
        ("X-Name", "Jürgen"),
    )
    assert parse_head(b"GET / HTTP/1.1\r\nX-Name: J\xfcrgen").headers == (("X-Name", "Jürgen"),)


def test_query_is_none_without_a_question_mark_and_empty_with_a_bare_one() -> None:
    assert parse_head(b"GET /dev HTTP/1.1\r\nHost: h").query is None
    assert parse_head(b"GET /dev? HTTP/1.1\r\nHost: h").query == ""


@pytest.mark.parametrize(
    "head",
    [
        b"GET /dev HTTP/9.9\r\nHost: h",
        b"GET /dev\r\nHost: h",
        b"GET  /dev HTTP/1.1\r\nHost: h",
        b"GET dev HTTP/1.1\r\nHost: h",
        b"GET /dev HTTP/1.1\r\nNo colon here",
        b"GET /dev HTTP/1.1\r\nHost : h",
        b"GET /dev HTTP/1.1\r\nHost: h\r\n folded",
        b"GET /dev HTTP/1.1\r\n: empty name",
    ],
)
def test_malformed_heads_are_bad_requests(head: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_head(head)


@given(
    st.lists(
        st.tuples(st.text(max_size=8), st.text(max_size=8)),
        max_size=6,
    )
)
def test_query_pairs_match_the_standard_library(pairs: list[tuple[str, str]]) -> None:
    query = urlencode(pairs)
    assert parse_query(query) == tuple(parse_qsl(query, keep_blank_values=True))


def test_query_fast_path_decodes_plus_and_keeps_blank_values() -> None:
    assert parse_query("a=1+2&b=&c&&d=x=y") == (("a", "1 2"), ("b", ""), ("c", ""), ("d", "x=y"))
    assert parse_query("name=J%C3%BCrgen") == (("name", "Jürgen"),)
    assert parse_query("") == ()


def test_path_segment() -> None:
    assert path_segment("/") == ""
    assert path_segment("/dev") == "dev"
    assert path_segment("/d%65v") == "dev"
    assert path_segment("/dev/@connections/x") is None


@given(st.binary(min_size=16, max_size=16))
def test_accept_key_matches_the_websockets_library(raw: bytes) -> None:
    key = base64.b64encode(raw).decode()
    assert is_valid_key(key)
    assert accept_key(key) == websockets_accept(key)


@pytest.mark.parametrize(
    "key", ["", "short", "not base64 at all!!!!!!!", base64.b64encode(b"x" * 15).decode() + "="]
)
def test_keys_that_are_not_16_bytes_of_base64_are_invalid(key: str) -> None:
    assert not is_valid_key(key)


def test_switching_protocols_names_the_accept_key_and_the_subprotocol() -> None:
    key = base64.b64encode(b"k" * 16).decode()
    answer = switching_protocols(key, "chat.v2")
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert f"Sec-WebSocket-Accept: {websockets_accept(key)}\r\n".encode() in answer
    assert b"Sec-WebSocket-Protocol: chat.v2\r\n" in answer
    assert answer.endswith(b"\r\n\r\n")
    assert b"Sec-WebSocket-Protocol" not in switching_protocols(key, None)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (429, "Too many connections"),
        (504, "Endpoint request timed out"),
    ],
)
def test_refusals_carry_awss_json_message_and_close(status: int, message: str) -> None:
    answer = refusal(status)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close" in head
    assert f"\r\nContent-Length: {len(body)}".encode() in head
    assert orjson.loads(body) == {"message": message}


def test_a_status_without_a_message_has_an_empty_body() -> None:
    answer = refusal(418)
    assert answer.startswith(b"HTTP/1.1 418 I'm a Teapot")
    assert answer.endswith(b"Content-Length: 0\r\nConnection: close\r\n\r\n")

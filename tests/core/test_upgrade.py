"""The upgrade request's head, key and answers, as RFC 9112, RFC 6455 §4 and AWS spell them."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.utils import accept_key as websockets_accept

from wsgate.core.upgrade import (
    BadRequest,
    RequestHead,
    accept_key,
    is_valid_key,
    parse_head,
    parse_query,
    partial_head_fault,
    path_segment,
    refusal,
    switching_protocols,
    upgrade_refusal,
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
    ("head", "reason"),
    [
        (b"GET /dev HTTP/9.9\r\nHost: h", "HTTP version not supported"),
        (b"GET /dev HTTP/2.0\r\nHost: h", "HTTP version not supported"),
        (b"GET /dev HTTP/1.2\r\nHost: h", "HTTP version not supported"),
        (b"GET /dev HTTP/0.9\r\nHost: h", "HTTP version not supported"),
        (b"GET /dev http/1.1\r\nHost: h", "HTTP version not supported"),
        (b"GET /dev HTTP/1.1 \r\nHost: h", "bad request line"),
        (b"GET /dev\r\nHost: h", "bad request line"),
        (b"GET  /dev HTTP/1.1\r\nHost: h", "bad request line"),
        (b"GET\t/dev HTTP/1.1\r\nHost: h", "bad request line"),
        (b" GET /dev HTTP/1.1\r\nHost: h", "bad request line"),
        (b"GET dev HTTP/1.1\r\nHost: h", "not a path"),
        (b"GET http://h/dev HTTP/1.1\r\nHost: h", "not a path"),
        (b"OPTIONS * HTTP/1.1\r\nHost: h", "not a path"),
        (b"CONNECT h:443 HTTP/1.1\r\nHost: h:443", "not a path"),
        (b"GET /d\x00ev HTTP/1.1\r\nHost: h", "bad request line"),
        ("GET /dév HTTP/1.1\r\nHost: h".encode(), "bad request line"),
        (b"GET /dev HTTP/1.1\r\nNo colon here", "without a colon"),
        (b"GET /dev HTTP/1.1\r\nNocolon", "without a colon"),
        (b"GET /dev HTTP/1.1\r\nHost : h", "not a token: 'Host '"),
        (b"GET /dev HTTP/1.1\r\nHost\t: h", "not a token"),
        (b"GET /dev HTTP/1.1\r\nX Forwarded: h", "not a token"),
        (b"GET /dev HTTP/1.1\r\nX-A\x00b: 1", "not a token"),
        (b"GET /dev HTTP/1.1\r\nX-\x01: 1", "not a token"),
        (b"GET /dev HTTP/1.1\r\nX-\xe9: 1", "not a token"),
        (b"GET /dev HTTP/1.1\r\n: empty name", "not a token: ''"),
        (b"GET /dev HTTP/1.1\r\nHost: h\r\n folded", "folded"),
        (b"GET /dev HTTP/1.1\r\nHost: h\r\n\tfolded", "folded"),
        (b"GET /dev HTTP/1.1\r\n Host: h", "folded or indented"),
        (b"GET /dev HTTP/1.1\r\n\r\nHost: h", "without a colon: ''"),
        (b"GET /dev HTTP/1.1\r\nHost: h\r\n", "without a colon: ''"),
        (b"GET /dev HTTP/1.1\r\nX: a\rb", "bare CR"),
        (b"GET /dev HTTP/1.1\r\nX: a\r", "bare CR"),
        (b"GET /dev HTTP/1.1\r\nX: a\nb", "bare LF"),
        (b"GET /dev HTTP/1.1\nHost: h", "bare LF"),
        (b"GET /dev HTTP/1.1\r\nX: a\x00b", "control character in the value of 'X'"),
        (b"GET /dev HTTP/1.1\r\nX: a\x7f", "control character"),
        (b"GET /dev HTTP/1.1\r\nX: \x0bchunked", "control character"),
    ],
)
def test_malformed_heads_are_bad_requests(head: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(reason)) as raised:
        parse_head(head)
    assert raised.value.status == 400


# RFC 9110 §5.6.2 tchar, RFC 9110 §5.5 field-vchar, RFC 3986 (visible ASCII) for a target.
TCHAR = set(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
FIELD_VCHAR = set(range(0x21, 0x7F)) | set(range(0x80, 0x100))


def _parses(head: bytes) -> bool:
    try:
        parse_head(head)
    except BadRequest:
        return False
    return True


def test_every_byte_in_a_field_value() -> None:
    """Inside a value only HTAB, SP, VCHAR and obs-text: never NUL, CR, LF, another CTL."""
    accepted = {b for b in range(256) if _parses(b"GET / HTTP/1.1\r\nX: a" + bytes([b]) + b"b")}
    assert accepted == FIELD_VCHAR | {0x09, 0x20}


def test_every_byte_at_either_end_of_a_field_value() -> None:
    """At the ends, SP and HTAB are the optional whitespace around the value."""
    for byte in range(256):
        for head in (
            b"GET / HTTP/1.1\r\nX:" + bytes([byte]),
            b"GET / HTTP/1.1\r\nX: a" + bytes([byte]),
        ):
            assert _parses(head) == (byte in FIELD_VCHAR | {0x09, 0x20}), head


def test_every_byte_in_a_field_name() -> None:
    accepted = {b for b in range(256) if _parses(b"GET / HTTP/1.1\r\nX" + bytes([b]) + b"Y: 1")}
    assert accepted == TCHAR | {ord(":")}  # 'X:Y: 1' is a field X of value 'Y: 1'


def test_every_byte_in_a_method() -> None:
    accepted = {b for b in range(256) if _parses(b"G" + bytes([b]) + b"T / HTTP/1.1\r\nHost: h")}
    assert accepted == TCHAR


def test_every_byte_in_a_target() -> None:
    accepted = {b for b in range(256) if _parses(b"GET /d" + bytes([b]) + b"v HTTP/1.1\r\nHost: h")}
    assert accepted == set(range(0x21, 0x7F))


def test_every_byte_between_the_lines() -> None:
    """Where CRLF goes, nothing else will do (no bare CR, no bare LF, no other byte)."""
    for byte in range(256):
        for cut in (b"\r", b"\n"):
            head = b"GET / HTTP/1.1\r\nHost: h\r\nX: 1".replace(
                b"\r\nX", (b"\r" + bytes([byte]) if cut == b"\r" else bytes([byte]) + b"\n") + b"X"
            )
            assert _parses(head) == (head.count(b"\r\n") == 2 and byte in (0x0A, 0x0D)), head


def test_whitespace_around_a_value_is_not_part_of_it() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nA: \t x \t y\t \r\nB:\r\nC: \t \r\nD:z")
    assert head.headers == (("A", "x \t y"), ("B", ""), ("C", ""), ("D", "z"))


def test_the_version_is_kept() -> None:
    assert parse_head(b"GET / HTTP/1.1\r\nHost: h").version == "HTTP/1.1"
    assert parse_head(b"POST /x HTTP/1.0").version == "HTTP/1.0"
    assert parse_head(b"POST /x HTTP/1.0").headers == ()


def test_one_bad_line_among_many_is_found() -> None:
    good = [f"X-{n}: {n}" for n in range(50)]
    for bad in ("X Y: 1", " folded", "X-Z\x00: 1", "no colon", "X: a\rb"):
        lines = [*good[:25], bad, *good[25:]]
        with pytest.raises(BadRequest):
            parse_head(("GET / HTTP/1.1\r\n" + "\r\n".join(lines)).encode())


_NAME = st.text(alphabet="".join(map(chr, sorted(TCHAR))), min_size=1, max_size=12)
_VALUE = st.text(
    alphabet="".join(map(chr, sorted(FIELD_VCHAR - set(range(0x80, 0x100))))) + " \té",
    max_size=20,
).map(lambda value: value.strip(" \t"))


@given(st.lists(st.tuples(_NAME, _VALUE), max_size=8), st.sampled_from(["", " ", "\t", " \t "]))
def test_any_well_formed_head_reads_back_as_written(
    fields: list[tuple[str, str]], space: str
) -> None:
    lines = ["GET /p?q HTTP/1.1", *(f"{name}:{space}{value}{space}" for name, value in fields)]
    head = parse_head("\r\n".join(lines).encode())
    assert head.headers == tuple(fields)
    assert (head.method, head.path, head.query) == ("GET", "/p", "q")


_CONTROLS = [b for b in range(0x20) if b != 0x09] + [0x7F]


@given(
    st.lists(st.tuples(_NAME, _VALUE), min_size=1, max_size=6),
    st.sampled_from(_CONTROLS),
    st.integers(min_value=0),
)
def test_a_control_character_anywhere_is_refused(
    fields: list[tuple[str, str]], control: int, where: int
) -> None:
    head = "\r\n".join(["GET / HTTP/1.1", *(f"{n}: {v}" for n, v in fields)]).encode()
    where %= len(head) + 1
    with pytest.raises(BadRequest):
        parse_head(head[:where] + bytes([control]) + head[where:])


@pytest.mark.parametrize(
    ("partial", "fault"),
    [
        (b"", None),
        (b"GE", None),
        (b"GET /dev HTTP/1.1", None),
        (b"GET /dev HTTP/1.1\r", None),
        (b"GET /dev HTTP/1.1\r\nHost: h\r\nX-Half: a", None),
        (b"GET /dev HTTP/1.1\nHost: h\n", "bare LF"),
        (b"GET /dev HTTP/1.1\r\nHost: h\n", "bare LF"),
        (b"GET /dev HTTP/1.1\rHost: h", "bare CR"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "control character"),
        (b"GET /dev HTTP/1.1\r\nX: a\x00", "control character"),
        (b"GET /dev HTTP/2.0\r\n", "HTTP version not supported"),
        (b"GET  /dev HTTP/1.1\r\nHost", "bad request line"),
    ],
)
def test_a_partial_head_is_judged_as_soon_as_it_can_be(partial: bytes, fault: str | None) -> None:
    found = partial_head_fault(partial)
    if fault is None:
        assert found is None
    else:
        assert found is not None and fault in found


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


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (
    ("Host", "h"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
)


def _upgrade(*headers: tuple[str, str], drop: str = "", version: str = "HTTP/1.1") -> RequestHead:
    kept = tuple(pair for pair in UPGRADE if pair[0] != drop)
    return RequestHead("GET", "/dev", None, kept + headers, version)


@pytest.mark.parametrize(
    ("head", "status", "reason"),
    [
        (_upgrade(version="HTTP/1.0"), 400, "needs HTTP/1.1"),
        (_upgrade(drop="Upgrade"), 426, "not a WebSocket upgrade"),
        (_upgrade(("Upgrade", "h2c"), drop="Upgrade"), 426, "not a WebSocket upgrade"),
        (_upgrade(("Upgrade", "websocket, h2c"), drop="Upgrade"), 426, "not a WebSocket"),
        (RequestHead("POST", "/dev", None, UPGRADE), 426, "not a WebSocket upgrade"),
        (_upgrade(("Upgrade", "websocket")), 400, "Upgrade more than once"),
        (_upgrade(("upgrade", "WebSocket")), 400, "Upgrade more than once"),
        (_upgrade(drop="Connection"), 400, "no upgrade token"),
        (_upgrade(("Connection", "notupgradeable"), drop="Connection"), 400, "no upgrade token"),
        (_upgrade(("Connection", "upgrade-please"), drop="Connection"), 400, "no upgrade token"),
        (_upgrade(("Connection", "keep-alive upgrade"), drop="Connection"), 400, "no upgrade"),
        (_upgrade(drop="Sec-WebSocket-Key"), 400, "Sec-WebSocket-Key"),
        (_upgrade(("Sec-WebSocket-Key", KEY)), 400, "Sec-WebSocket-Key"),
        (_upgrade(("Sec-WebSocket-Key", "AAAA"), drop="Sec-WebSocket-Key"), 400, "Key"),
        (_upgrade(drop="Sec-WebSocket-Version"), 400, "Sec-WebSocket-Version"),
        (_upgrade(("Sec-WebSocket-Version", "8"), drop="Sec-WebSocket-Version"), 400, "Version"),
        (_upgrade(("Sec-WebSocket-Version", "13")), 400, "Sec-WebSocket-Version"),
        (_upgrade(("Sec-WebSocket-Version", "8")), 400, "Sec-WebSocket-Version"),
        (_upgrade(("Sec-WebSocket-Version", "13, 8"), drop="Sec-WebSocket-Version"), 400, "13"),
    ],
)
def test_a_handshake_that_cannot_open_a_websocket_is_refused(
    head: RequestHead, status: int, reason: str
) -> None:
    refused = upgrade_refusal(head)
    assert refused is not None
    assert refused[0] == status
    assert reason in refused[1]


@pytest.mark.parametrize(
    "head",
    [
        _upgrade(),
        _upgrade(("Connection", "keep-alive, Upgrade"), drop="Connection"),
        _upgrade(("Connection", "keep-alive"), ("Connection", " UPGRADE "), drop="Connection"),
        _upgrade(("Upgrade", "WebSocket"), drop="Upgrade"),
        _upgrade(("Sec-WebSocket-Protocol", "a"), ("Sec-WebSocket-Protocol", "b")),
    ],
)
def test_a_good_handshake_is_not_refused(head: RequestHead) -> None:
    assert upgrade_refusal(head) is None


def test_a_426_names_websocket_and_its_version() -> None:
    head = refusal(426).split(b"\r\n\r\n")[0].split(b"\r\n")
    assert b"Upgrade: websocket" in head
    assert b"Sec-WebSocket-Version: 13" in head


def test_a_refused_handshake_can_name_the_version() -> None:
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in refusal(400, websocket_version=True)
    assert b"Sec-WebSocket-Version" not in refusal(400)
    assert refusal(400, websocket_version=True).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_values_gathers_every_value_of_the_names_asked_for() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nA: 1\r\nb: 2\r\na: 3\r\nC: 4")
    assert head.values(frozenset(("a", "b", "z"))) == {"a": ["1", "3"], "b": ["2"]}

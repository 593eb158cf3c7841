"""Frames the gateway sends are what any WebSocket implementation would send."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Close as WsClose
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode

from wsgate.core.frames import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PONG,
    OPCODE_TEXT,
    PEER_CLOSE_CODES,
    CloseCode,
    Opcode,
    encode_close,
    encode_frame,
    encode_message,
)


@given(
    st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
    st.one_of(
        st.binary(max_size=300),
        st.integers(65530, 65540).map(lambda n: b"x" * n),
        st.just(b"y" * 70_000),
    ),
)
def test_frames_match_the_websockets_library(opcode: Opcode, payload: bytes) -> None:
    expected = Frame(WsOpcode(opcode), payload).serialize(mask=False)
    assert encode_frame(opcode, payload) == expected


def test_length_boundaries() -> None:
    assert encode_frame(Opcode.TEXT, b"a" * 125)[:2] == b"\x81\x7d"
    assert encode_frame(Opcode.TEXT, b"a" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert encode_frame(Opcode.BINARY, b"a" * 65535)[:4] == b"\x82\x7e\xff\xff"
    assert encode_frame(Opcode.BINARY, b"a" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(
        8, "big"
    )


@given(st.sampled_from([Opcode.CLOSE, Opcode.PING, Opcode.PONG]), st.binary(max_size=125))
def test_control_frames_match_the_websockets_library(opcode: Opcode, payload: bytes) -> None:
    expected = Frame(WsOpcode(opcode), payload).serialize(mask=False)
    assert encode_frame(opcode, payload) == expected


def test_the_enums_have_the_rfc_values() -> None:
    assert [(op.name, op.value) for op in Opcode] == [
        ("CONTINUATION", 0),
        ("TEXT", 1),
        ("BINARY", 2),
        ("CLOSE", 8),
        ("PING", 9),
        ("PONG", 10),
    ]
    for op in Opcode:
        assert WsOpcode(op).value == op.value
    assert {code.value for code in CloseCode} == {*range(1000, 1016)} - {1004}
    assert CloseCode(1009) is CloseCode.MESSAGE_TOO_BIG
    assert CloseCode(1015) is CloseCode.TLS_HANDSHAKE


def test_the_old_names_are_the_enum_members() -> None:
    assert OPCODE_TEXT is Opcode.TEXT
    assert OPCODE_BINARY is Opcode.BINARY
    assert OPCODE_CLOSE is Opcode.CLOSE
    assert OPCODE_PONG is Opcode.PONG


def test_peer_close_codes() -> None:
    registered = {1000, 1001, 1002, 1003, *range(1007, 1015)}
    assert registered | {*range(3000, 5000)} == PEER_CLOSE_CODES
    for local_only in (1004, 1005, 1006, 1015, 1016, 2999, 5000, 0, 65535):
        assert local_only not in PEER_CLOSE_CODES


# --- messages ---------------------------------------------------------------------------------


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_encode_message(data: str | bytes) -> None:
    if isinstance(data, str):
        expected = Frame(WsOpcode.TEXT, data.encode()).serialize(mask=False)
    else:
        expected = Frame(WsOpcode.BINARY, data).serialize(mask=False)
    assert encode_message(data) == expected


def test_encode_message_bytes() -> None:
    assert encode_message("hé") == b"\x81\x03h\xc3\xa9"
    assert encode_message(b"h\xc3\xa9") == b"\x82\x03h\xc3\xa9"
    assert encode_message("") == b"\x81\x00"
    assert encode_message(b"") == b"\x82\x00"


# --- close frames -----------------------------------------------------------------------------


def test_close_without_code_has_no_payload() -> None:
    assert encode_close(None, "") == b"\x88\x00"
    # A reason cannot travel without a code.
    assert encode_close(None, "ignored") == b"\x88\x00"


def test_close_bytes() -> None:
    assert encode_close(1000, "") == b"\x88\x02\x03\xe8"
    assert encode_close(CloseCode.GOING_AWAY, "bye") == b"\x88\x05\x03\xe9bye"
    assert encode_close(4999, "é") == b"\x88\x04\x13\x87\xc3\xa9"


@given(st.sampled_from(sorted(PEER_CLOSE_CODES)), st.text(max_size=200))
def test_close_frames_are_read_by_the_websockets_library(code: int, reason: str) -> None:
    frame = encode_close(code, reason)
    # Always a 7-bit length: a control frame carries at most 125 bytes.
    assert frame[0] == 0x88
    assert frame[1] == len(frame) - 2 <= 125
    close = WsClose.parse(frame[2:])  # validates the code and decodes the reason strictly
    assert close.code == code
    assert reason.encode(errors="replace").startswith(close.reason.encode())


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
@pytest.mark.parametrize("count", [40, 61, 62, 123, 124, 200])
def test_a_long_reason_is_cut_on_a_character_boundary(char: str, count: int) -> None:
    reason = char * count
    width = len(char.encode())
    frame = encode_close(1000, reason)
    payload = frame[2:]
    assert frame[1] == len(payload) <= 125
    sent = payload[2:].decode()  # strict: never a character cut in half
    # As many whole characters as fit in 123 bytes, and no fewer.
    assert sent == char * min(count, 123 // width)


def test_a_cut_after_an_ascii_prefix() -> None:
    # 122 ASCII bytes, then a 2-byte character that straddles byte 123: it goes whole.
    reason = "x" * 122 + "é" + "tail"
    assert encode_close(1000, reason)[4:] == b"x" * 122
    reason = "x" * 121 + "é" + "tail"
    assert encode_close(1000, reason)[4:] == b"x" * 121 + "é".encode()


def test_a_lone_surrogate_in_a_reason_is_replaced() -> None:
    assert encode_close(1011, "bad \udcff") == b"\x88\x07\x03\xf3bad ?"


def test_a_close_code_out_of_range_is_refused() -> None:
    with pytest.raises(struct.error):
        encode_close(65536, "")

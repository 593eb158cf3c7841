"""Frames the gateway sends are what any WebSocket implementation would send."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from wsgate.core.frames import OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PONG, OPCODE_TEXT, encode_frame


@given(
    st.sampled_from([OPCODE_TEXT, OPCODE_BINARY]),
    st.one_of(
        st.binary(max_size=300),
        st.integers(65530, 65540).map(lambda n: b"x" * n),
        st.just(b"y" * 70_000),
    ),
)
def test_frames_match_the_websockets_library(opcode: int, payload: bytes) -> None:
    expected = Frame(Opcode(opcode), payload).serialize(mask=False)
    assert encode_frame(opcode, payload) == expected


def test_length_boundaries() -> None:
    assert encode_frame(OPCODE_TEXT, b"a" * 125)[:2] == b"\x81\x7d"
    assert encode_frame(OPCODE_TEXT, b"a" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert encode_frame(OPCODE_BINARY, b"a" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(
        8, "big"
    )


@given(st.sampled_from([OPCODE_CLOSE, OPCODE_PONG]), st.binary(max_size=125))
def test_control_frames_match_the_websockets_library(opcode: int, payload: bytes) -> None:
    expected = Frame(Opcode(opcode), payload).serialize(mask=False)
    assert encode_frame(opcode, payload) == expected

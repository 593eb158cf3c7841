"""The parser reads what a real client library sends, in any split, and fails what it must."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close as WsClose
from websockets.frames import Frame, Opcode

from tests.core.client_frames import client_frame, fragmented
from wsgate.core.frames import PEER_CLOSE_CODES, CloseCode
from wsgate.core.framing import (
    Binary,
    Close,
    Event,
    FrameParser,
    Ping,
    Pong,
    ProtocolError,
)


BIG = 1 << 24  # limits that never get in the way
KEY = b"\x00\x7f\x80\xff"  # zero, high-bit and all-ones mask bytes
VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def raw_frame(
    first: int,
    payload: bytes,
    *,
    masked: bool = True,
    key: bytes = KEY,
    length_bytes: int | None = None,
) -> bytes:
    """Any frame at all, including ones websockets refuses to build.

    ``first`` is the whole first byte (FIN, RSV, opcode); ``length_bytes`` forces a 0, 2 or 8
    byte extended length, so non-minimal encodings can be made.
    """
    length = len(payload)
    if length_bytes is None:
        length_bytes = 0 if length < 126 else 2 if length < 65536 else 8
    mask_bit = 0x80 if masked else 0
    if length_bytes == 0:
        header = bytes((first, mask_bit | length))
    elif length_bytes == 2:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    masked_payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked_payload


def feed_all(parser: FrameParser, pieces: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def expect_error(
    code: CloseCode, *pieces: bytes, parser: FrameParser | None = None
) -> ProtocolError:
    """Feeds ``pieces`` in order; the last one must raise ProtocolError with ``code``."""
    parser = parser or FrameParser(BIG, BIG)
    for piece in pieces[:-1]:
        parser.feed(piece)
    with pytest.raises(ProtocolError) as caught:
        parser.feed(pieces[-1])
    error = caught.value
    assert error.code is code, error  # the enum member itself, for readable logs
    assert error.reason and len(error.reason.encode()) <= 123
    # Failed for good: the same error again, whatever comes next, and nothing delivered.
    for more in (b"", client_frame(Opcode.TEXT, b"fine"), client_frame(Opcode.PING, b"")):
        with pytest.raises(ProtocolError) as again:
            parser.feed(more)
        assert (again.value.code, again.value.reason) == (error.code, error.reason)
        assert again.value.events == []
    return error


def test_what_came_before_a_violation_in_the_same_feed_is_kept() -> None:
    parser = FrameParser(BIG, BIG)
    ping = client_frame(Opcode.PING, b"p")
    good = client_frame(Opcode.TEXT, b"first") + ping + client_frame(Opcode.TEXT, b"second")
    bad = Frame(Opcode.TEXT, b"unmasked").serialize(mask=False)
    with pytest.raises(ProtocolError) as caught:
        parser.feed(good + bad)
    assert caught.value.code is CloseCode.PROTOCOL_ERROR
    assert caught.value.events == ["first", Ping(b"p"), "second"]


# --- the reference: random streams from the websockets library -----------------------------

controls = st.one_of(
    st.binary(max_size=125).map(Ping),
    st.binary(max_size=125).map(Pong),
    st.just(Close(None, "")),
    st.builds(
        Close,
        st.sampled_from(VALID_CLOSE_CODES),
        st.text(max_size=30).filter(lambda r: len(r.encode()) <= 123),
    ),
)

messages = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(Binary),
    # Past 125 bytes, so 16-bit lengths show up too.
    st.text(min_size=120, max_size=400),
    st.binary(min_size=126, max_size=600).map(Binary),
)


def encode_control(event: Event) -> bytes:
    if isinstance(event, Ping):
        return client_frame(Opcode.PING, event.payload)
    if isinstance(event, Pong):
        return client_frame(Opcode.PONG, event.payload)
    assert isinstance(event, Close)
    if event.code is None:
        return client_frame(Opcode.CLOSE, b"")
    return client_frame(Opcode.CLOSE, WsClose(event.code, event.reason).serialize())


@settings(max_examples=200)
@given(st.data())
def test_random_streams_in_random_splits(data: st.DataObject) -> None:
    stream = bytearray()
    expected: list[Event] = []
    for _ in range(data.draw(st.integers(1, 6), label="items")):
        if data.draw(st.booleans(), label="control alone"):
            control = data.draw(controls)
            stream += encode_control(control)
            expected.append(control)
            continue
        message = data.draw(messages)
        frames = fragmented(data, message, max_cuts=4)
        for index, frame in enumerate(frames):
            stream += frame
            if index < len(frames) - 1:
                for control in data.draw(st.lists(controls, max_size=2), label="between"):
                    stream += encode_control(control)
                    expected.append(control)
        expected.append(message)

    whole = bytes(stream)
    split = data.draw(st.sampled_from(["whole", "bytes", "random"]), label="split")
    if split == "whole":
        pieces = [whole]
    elif split == "bytes":
        pieces = bytewise(whole)
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=30)))
        bounds = [0, *cuts, len(whole)]
        pieces = [whole[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]

    assert feed_all(FrameParser(BIG, BIG), pieces) == expected


@settings(max_examples=200)
@given(st.text(max_size=125).filter(lambda t: len(t.encode()) <= 125))
def test_one_short_text_frame_per_feed(text: str) -> None:
    # The fast path, repeatedly on one parser, and the general path (bytewise) agree.
    frame = client_frame(Opcode.TEXT, text.encode())
    parser = FrameParser(BIG, BIG)
    assert parser.feed(frame) == [text]
    assert parser.feed(frame) == [text]
    assert feed_all(parser, bytewise(frame)) == [text]
    assert parser.feed(raw_frame(0x81, text.encode())) == [text]


# --- splits and state ------------------------------------------------------------------------


def test_nothing_comes_out_before_the_last_byte_of_a_frame() -> None:
    for frame, event in [
        (raw_frame(0x81, b"hello"), "hello"),
        (raw_frame(0x82, b"x" * 300), Binary(b"x" * 300)),
        (raw_frame(0x82, b"y" * 70_000), Binary(b"y" * 70_000)),
        (raw_frame(0x89, b"p"), Ping(b"p")),
        (raw_frame(0x8A, b""), Pong(b"")),
    ]:
        parser = FrameParser(BIG, BIG)
        # Header, key and the start of the payload byte by byte, then the rest but one byte.
        head = min(20, len(frame) - 1)
        for byte in bytewise(frame[:head]):
            assert parser.feed(byte) == []
        assert parser.feed(frame[head:-1]) == []
        assert parser.feed(frame[-1:]) == [event]


def test_partial_frame_then_the_rest_with_more_frames() -> None:
    first = raw_frame(0x81, b"one")
    stream = first + raw_frame(0x81, b"two") + raw_frame(0x82, b"three")
    parser = FrameParser(BIG, BIG)
    assert parser.feed(stream[:4]) == []
    assert parser.feed(stream[4:]) == ["one", "two", Binary(b"three")]
    # And whole frames again afterwards.
    assert parser.feed(raw_frame(0x81, b"four")) == ["four"]


def test_empty_feed_and_empty_messages() -> None:
    parser = FrameParser(BIG, BIG)
    assert parser.feed(b"") == []
    assert parser.feed(raw_frame(0x81, b"")) == [""]
    assert parser.feed(raw_frame(0x82, b"")) == [Binary(b"")]
    assert parser.feed(raw_frame(0x01, b"") + raw_frame(0x80, b"")) == [""]
    assert parser.feed(raw_frame(0x89, b"") + raw_frame(0x8A, b"")) == [Ping(b""), Pong(b"")]


def test_control_frames_between_fragments_come_out_at_once() -> None:
    parser = FrameParser(BIG, BIG)
    assert parser.feed(client_frame(Opcode.TEXT, b"he", fin=False)) == []
    assert parser.feed(client_frame(Opcode.PING, b"1")) == [Ping(b"1")]
    assert parser.feed(client_frame(Opcode.CONT, b"ll", fin=False)) == []
    assert parser.feed(client_frame(Opcode.PONG, b"2")) == [Pong(b"2")]
    assert parser.feed(client_frame(Opcode.CONT, b"o", fin=True)) == ["hello"]
    # The message is over: a new one may start.
    assert parser.feed(client_frame(Opcode.TEXT, b"next")) == ["next"]


def test_fragmented_text_split_inside_a_character_is_fine() -> None:
    encoded = "é€😀".encode()
    for cut in range(len(encoded) + 1):
        parser = FrameParser(BIG, BIG)
        stream = client_frame(Opcode.TEXT, encoded[:cut], fin=False) + client_frame(
            Opcode.CONT, encoded[cut:]
        )
        assert parser.feed(stream) == ["é€😀"]


def test_bytes_after_a_close_are_still_parsed() -> None:
    stream = client_frame(Opcode.CLOSE, WsClose(1000, "bye").serialize()) + client_frame(
        Opcode.TEXT, b"late"
    )
    assert FrameParser(BIG, BIG).feed(stream) == [Close(1000, "bye"), "late"]


@pytest.mark.parametrize("length", [0, 1, 124, 125, 126, 127, 128, 129, 65535, 65536, 65537])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_length_boundaries(length: int, opcode: Opcode) -> None:
    payload = bytes(0x61 + i % 26 for i in range(length))
    event: Event = payload.decode() if opcode is Opcode.TEXT else Binary(payload)
    frame = client_frame(opcode, payload)
    assert FrameParser(BIG, BIG).feed(frame) == [event]
    # Split right after the second header byte, after the extended length, and mid-payload.
    cuts = sorted({min(cut, len(frame)) for cut in (0, 2, 4, 10, 14, len(frame) // 2)})
    cuts.append(len(frame))
    pieces = [frame[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    assert feed_all(FrameParser(BIG, BIG), pieces) == [event]
    # Exactly at the limits is allowed.
    assert FrameParser(length, length).feed(frame) == [event]


@pytest.mark.parametrize("length_bytes", [2, 8])
def test_non_minimal_lengths_are_accepted(length_bytes: int) -> None:
    for payload in (b"", b"abc", b"z" * 125):
        frame = raw_frame(0x81, payload, length_bytes=length_bytes)
        assert FrameParser(BIG, BIG).feed(frame) == [payload.decode()]
        assert feed_all(FrameParser(BIG, BIG), bytewise(frame)) == [payload.decode()]
    frame = raw_frame(0x89, b"ping", length_bytes=length_bytes)
    assert FrameParser(BIG, BIG).feed(frame) == [Ping(b"ping")]


def test_128k_message_in_4k_fragments_fed_in_1000_byte_chunks() -> None:
    payload = bytes(range(256)) * 512  # 128 KiB
    stream = bytearray()
    for offset in range(0, len(payload), 4096):
        fin = offset + 4096 >= len(payload)
        opcode = Opcode.BINARY if offset == 0 else Opcode.CONT
        stream += client_frame(opcode, payload[offset : offset + 4096], fin=fin)
        stream += client_frame(Opcode.PING, str(offset).encode())
    whole = bytes(stream)
    parser = FrameParser(4096, len(payload))
    events = feed_all(parser, [whole[i : i + 1000] for i in range(0, len(whole), 1000)])
    pings = [Ping(str(offset).encode()) for offset in range(0, len(payload), 4096)]
    assert events == [*pings[:-1], Binary(payload), pings[-1]]


def test_128k_text_message_in_one_frame_fed_in_4k_chunks() -> None:
    text = "ab€" * (128 * 1024 // 5)
    frame = client_frame(Opcode.TEXT, text.encode())
    parser = FrameParser(BIG, BIG)
    assert feed_all(parser, [frame[i : i + 4096] for i in range(0, len(frame), 4096)]) == [text]


# --- close frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_codes(code: int) -> None:
    frame = client_frame(Opcode.CLOSE, WsClose(code, "reason ✓").serialize())
    assert FrameParser(BIG, BIG).feed(frame) == [Close(code, "reason ✓")]
    frame = raw_frame(0x88, code.to_bytes(2, "big"))
    assert FrameParser(BIG, BIG).feed(frame) == [Close(code, "")]


def test_empty_close() -> None:
    assert FrameParser(BIG, BIG).feed(raw_frame(0x88, b"")) == [Close(None, "")]


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_invalid_close_codes(code: int) -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x88, code.to_bytes(2, "big") + b"why"))


def test_close_with_one_byte() -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x88, b"\x03"))


def test_close_reason_not_utf8() -> None:
    expect_error(CloseCode.INVALID_DATA, raw_frame(0x88, (1000).to_bytes(2, "big") + b"ok \xff"))


# --- violations -------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.CLOSE])
def test_unmasked_frame(opcode: Opcode) -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, Frame(opcode, b"").serialize(mask=False))
    expect_error(CloseCode.PROTOCOL_ERROR, Frame(opcode, b"hi").serialize(mask=False))


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x9])
def test_reserved_bits(rsv: int, opcode: int) -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x80 | rsv | opcode, b"hi"))


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcodes(opcode: int) -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x80 | opcode, b"hi"))
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(opcode, b"hi"))


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_fragmented_control_frame(opcode: int) -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(opcode, b""))


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_control_frame_over_125(opcode: int) -> None:
    payload = (1000).to_bytes(2, "big") + b"x" * 124
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x80 | opcode, payload))
    # Even written with a 16-bit length, and even before its payload arrives.
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x80 | opcode, payload)[:8])
    # 125 is still fine.
    assert FrameParser(BIG, BIG).feed(raw_frame(0x80 | opcode, payload[:125]))


def test_continuation_without_a_message() -> None:
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x80, b"stray"))
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x00, b"stray"))
    # Also once a message has finished.
    expect_error(CloseCode.PROTOCOL_ERROR, raw_frame(0x81, b"done"), raw_frame(0x80, b"stray"))
    expect_error(
        CloseCode.PROTOCOL_ERROR,
        raw_frame(0x01, b"a") + raw_frame(0x80, b"b") + raw_frame(0x80, b"c"),
    )


@pytest.mark.parametrize("second", [0x81, 0x82, 0x01, 0x02])
def test_new_data_frame_inside_a_fragmented_message(second: int) -> None:
    start = raw_frame(0x01, b"part")
    expect_error(CloseCode.PROTOCOL_ERROR, start, raw_frame(second, b"new"))
    expect_error(CloseCode.PROTOCOL_ERROR, start + raw_frame(0x89, b"") + raw_frame(second, b"new"))
    # A whole short text frame (the fast path's shape) is no exception.
    expect_error(CloseCode.PROTOCOL_ERROR, start, client_frame(Opcode.TEXT, b"new"))


def test_frame_too_big_is_known_from_the_header_alone() -> None:
    frame = raw_frame(0x82, b"x" * 1001)
    header = frame[:8]  # 2 bytes, 16-bit length, key: no payload at all
    expect_error(CloseCode.MESSAGE_TOO_BIG, header, parser=FrameParser(1000, BIG))
    # Without even the key.
    expect_error(CloseCode.MESSAGE_TOO_BIG, frame[:4], parser=FrameParser(1000, BIG))
    # 64-bit declared length, nothing behind it.
    expect_error(CloseCode.MESSAGE_TOO_BIG, b"\x82\xff" + (1 << 40).to_bytes(8, "big") + KEY)
    # One byte under is fine.
    assert FrameParser(1001, BIG).feed(frame) == [Binary(b"x" * 1001)]


def test_short_frame_too_big() -> None:
    # Small limits must hold for 7-bit lengths as well, whole frames included.
    expect_error(
        CloseCode.MESSAGE_TOO_BIG, client_frame(Opcode.TEXT, b"x" * 11), parser=FrameParser(10, BIG)
    )
    expect_error(
        CloseCode.MESSAGE_TOO_BIG, client_frame(Opcode.TEXT, b"x" * 11), parser=FrameParser(BIG, 10)
    )
    expect_error(
        CloseCode.MESSAGE_TOO_BIG,
        client_frame(Opcode.BINARY, b"x" * 11),
        parser=FrameParser(10, BIG),
    )
    assert FrameParser(10, 10).feed(client_frame(Opcode.TEXT, b"x" * 10)) == ["x" * 10]
    # Control frames are bounded only by the 125 rule.
    assert FrameParser(10, 10).feed(client_frame(Opcode.PING, b"p" * 100)) == [Ping(b"p" * 100)]


def test_message_too_big_across_fragments() -> None:
    parser = FrameParser(60, 100)
    assert parser.feed(client_frame(Opcode.BINARY, b"a" * 60, fin=False)) == []
    assert parser.feed(client_frame(Opcode.CONT, b"b" * 40, fin=False)) == []
    assert parser.feed(client_frame(Opcode.PING, b"p" * 100)) == [Ping(b"p" * 100)]
    # Only the header of a frame that would make it 101 bytes.
    expect_error(CloseCode.MESSAGE_TOO_BIG, client_frame(Opcode.CONT, b"c")[:6], parser=parser)

    parser = FrameParser(60, 100)
    parser.feed(client_frame(Opcode.TEXT, b"a" * 60, fin=False))
    assert parser.feed(client_frame(Opcode.CONT, b"b" * 40)) == ["a" * 60 + "b" * 40]
    # The count starts again with the next message.
    assert parser.feed(client_frame(Opcode.TEXT, b"c" * 60, fin=False)) == []
    assert parser.feed(client_frame(Opcode.CONT, b"d" * 40)) == ["c" * 60 + "d" * 40]


def test_64_bit_length_with_msb_set() -> None:
    header = b"\x82\xff" + (1 << 63).to_bytes(8, "big")
    # With limits that would allow it, so it is the MSB rule and not the size that fails it.
    expect_error(CloseCode.PROTOCOL_ERROR, header + KEY, parser=FrameParser(1 << 70, 1 << 70))
    expect_error(CloseCode.PROTOCOL_ERROR, header, parser=FrameParser(1 << 70, 1 << 70))
    expect_error(
        CloseCode.PROTOCOL_ERROR, b"\x82\xff" + b"\xff" * 8, parser=FrameParser(1 << 70, 1 << 70)
    )


@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xe2\x82", b"\xf4\x90\x80\x80", b"\x80"],
)
def test_invalid_utf8_text(bad: bytes) -> None:
    # Whole (the fast path), split bytewise, a big frame, and fragmented.
    expect_error(CloseCode.INVALID_DATA, client_frame(Opcode.TEXT, bad))
    expect_error(CloseCode.INVALID_DATA, *bytewise(client_frame(Opcode.TEXT, bad)))
    expect_error(CloseCode.INVALID_DATA, client_frame(Opcode.TEXT, b"x" * 200 + bad))
    expect_error(
        CloseCode.INVALID_DATA,
        client_frame(Opcode.TEXT, b"fine", fin=False),
        client_frame(Opcode.CONT, bad, fin=False),
        client_frame(Opcode.CONT, b"end"),
    )
    # The same bytes in a binary message are nobody's business.
    assert FrameParser(BIG, BIG).feed(client_frame(Opcode.BINARY, bad)) == [Binary(bad)]


def test_violation_after_good_frames_in_the_same_feed() -> None:
    # The good frame's event is lost with the connection; the error is what counts.
    error = expect_error(
        CloseCode.PROTOCOL_ERROR, raw_frame(0x81, b"ok") + raw_frame(0x81, b"bad", masked=False)
    )
    assert error.reason == "unmasked frame"


def test_protocol_error_carries_code_and_reason() -> None:
    error = ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
    assert (error.code, error.reason) == (1009, "message too big")
    assert str(error) == "1009 message too big"  # the number, not the member's name


def test_the_close_codes_checked_are_the_ones_a_peer_may_send() -> None:
    for code in [*range(5100), 65535]:  # every code up to past the application range
        payload = code.to_bytes(2, "big")
        parser = FrameParser(BIG, BIG)
        if code in PEER_CLOSE_CODES:
            assert parser.feed(raw_frame(0x88, payload)) == [Close(code, "")]
        else:
            with pytest.raises(ProtocolError):
                parser.feed(raw_frame(0x88, payload))


def test_a_message_may_come_in_at_most_max_fragments_frames() -> None:
    """Empty continuation frames add nothing to a message's length: their number is
    bounded, counted once per frame however its header is split."""
    first = client_frame(Opcode.TEXT, b"a", fin=False)
    empty = client_frame(Opcode.CONT, b"", fin=False)
    last = client_frame(Opcode.CONT, b"z")
    stream = first + empty * 2 + last  # four frames
    parser = FrameParser(BIG, BIG, max_fragments=4)
    events = [
        event for byte in range(len(stream)) for event in parser.feed(stream[byte : byte + 1])
    ]
    assert events == ["az"]
    assert FrameParser(BIG, BIG, max_fragments=4).feed(stream * 3) == ["az"] * 3
    with pytest.raises(ProtocolError) as info:
        FrameParser(BIG, BIG, max_fragments=3).feed(stream)
    assert info.value.code == CloseCode.MESSAGE_TOO_BIG
    assert info.value.reason == "too many fragments"


@settings(max_examples=200)
@given(payload=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4))
def test_both_unmaskings_agree_with_a_plain_xor(payload: bytes, key: bytes) -> None:
    """aiohttp's C XOR (used when present) and the pure-Python fallback give the same."""
    from wsgate.core import framing

    expected = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert bytes(framing._unmask_int(payload, key)) == expected
    assert bytes(framing._unmask(payload, key)) == expected
    assert bytes(framing._unmask(bytearray(payload), key)) == expected


def test_the_c_unmasking_is_used_when_aiohttp_has_it() -> None:
    """The fast XOR is picked up: this checkout's aiohttp is built with its C helpers."""
    from wsgate.core import framing

    assert framing._unmask is not framing._unmask_int


@given(payload=st.binary(max_size=200))
def test_binary_and_control_payloads_come_out_as_bytes(payload: bytes) -> None:
    parser = FrameParser(BIG, BIG)
    events = parser.feed(raw_frame(0x82, payload) + raw_frame(0x89, payload[:125]))
    assert events == [Binary(payload), Ping(payload[:125])]
    assert all(type(event.payload) is bytes for event in events)  # type: ignore[union-attr]

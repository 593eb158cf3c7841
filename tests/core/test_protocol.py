"""The server side of a connection, byte by byte: pongs, the close handshake, failing."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close as WsClose
from websockets.frames import Frame, Opcode

from tests.core.client_frames import client_frame, fragmented
from wsgate.core.protocol import (
    Binary,
    Close,
    ConnectionClosed,
    Event,
    Failed,
    ServerProtocol,
    State,
)


BIG = 1 << 24  # limits that never get in the way
KEY = b"\x00\x7f\x80\xff"


def frame(first: int, payload: bytes, *, masked: bool = True) -> bytes:
    """A frame as a client sends it: ``first`` is the whole first byte (FIN, RSV, opcode)."""
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 * masked | length))
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 * masked | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 * masked | 127, length)
    if not masked:
        return header + payload
    return header + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def text(data: str, *, fin: bool = True) -> bytes:
    return frame(0x80 * fin | 0x1, data.encode())


def binary(data: bytes, *, fin: bool = True) -> bytes:
    return frame(0x80 * fin | 0x2, data)


def cont(data: bytes, *, fin: bool = True) -> bytes:
    return frame(0x80 * fin, data)


def ping(data: bytes) -> bytes:
    return frame(0x89, data)


def pong(data: bytes) -> bytes:
    return frame(0x8A, data)


def close(code: int | None = None, reason: bytes = b"") -> bytes:
    return frame(0x88, b"" if code is None else code.to_bytes(2, "big") + reason)


def server_close(code: int, reason: bytes) -> bytes:
    """A close frame as the server sends it, spelled out."""
    payload = code.to_bytes(2, "big") + reason
    return bytes((0x88, len(payload))) + payload


def closing() -> ServerProtocol:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.start_close(1001, "going away") == b"\x88\x0c\x03\xe9going away"
    return protocol


def closed_by_client() -> ServerProtocol:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(close(1000)) == [Close(1000, "")]
    assert protocol.data_to_send() == b"\x88\x02\x03\xe8"
    return protocol


def failed() -> ServerProtocol:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(text("x", fin=False) + text("y")) == [
        Failed(1002, "new message inside a fragmented one")
    ]
    assert protocol.data_to_send() == server_close(1002, b"new message inside a fragmented one")
    return protocol


def ended() -> ServerProtocol:
    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_eof()
    return protocol


def failed_by_server() -> ServerProtocol:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.fail(1011, "") == b"\x88\x02\x03\xf3"
    return protocol


CLOSED = [closed_by_client, failed, ended, failed_by_server]


def assert_ignores_everything(protocol: ServerProtocol) -> None:
    """CLOSED for good: nothing parsed, nothing answered, nothing queued."""
    for data in (text("late"), ping(b"p"), close(1000), frame(0x81, b"bad", masked=False)):
        assert protocol.receive_data(data) == []
        assert protocol.data_to_send() == b""
    assert protocol.state is State.CLOSED


# --- a fresh connection -----------------------------------------------------------------------


def test_a_new_connection_is_open() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.state is State.OPEN
    assert not protocol.close_sent
    assert protocol.close_received is None
    assert protocol.data_to_send() == b""
    assert protocol.receive_data(b"") == []


def test_messages() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(text("hello")) == ["hello"]
    assert protocol.receive_data(binary(b"\x00\xff")) == [Binary(b"\x00\xff")]
    assert protocol.receive_data(text("a") + binary(b"b") + text("c")) == ["a", Binary(b"b"), "c"]
    # Split anywhere, even inside the header.
    data = text("é" * 100)
    assert protocol.receive_data(data[:1]) == []
    assert protocol.receive_data(data[1:3]) == []
    assert protocol.receive_data(data[3:]) == ["é" * 100]
    assert protocol.data_to_send() == b""
    assert protocol.state is State.OPEN


# --- pings and pongs --------------------------------------------------------------------------


def test_a_ping_is_answered_with_its_payload() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(ping(b"hello")) == []
    assert protocol.data_to_send() == b"\x8a\x05hello"
    assert protocol.data_to_send() == b""  # emptied by the call
    assert protocol.receive_data(ping(b"")) == []
    assert protocol.data_to_send() == b"\x8a\x00"
    assert protocol.receive_data(ping(b"p" * 125)) == []
    assert protocol.data_to_send() == b"\x8a\x7d" + b"p" * 125


def test_pongs_come_out_in_order_and_messages_around_them_too() -> None:
    protocol = ServerProtocol(BIG, BIG)
    data = ping(b"1") + text("a") + ping(b"2") + binary(b"b") + ping(b"3")
    assert protocol.receive_data(data) == ["a", Binary(b"b")]
    assert protocol.data_to_send() == b"\x8a\x011\x8a\x012\x8a\x013"


def test_pongs_are_swallowed() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(pong(b"unsolicited")) == []
    assert protocol.receive_data(pong(b"") + text("after")) == ["after"]
    assert protocol.data_to_send() == b""


def test_no_pong_once_the_server_closed() -> None:
    protocol = closing()
    assert protocol.receive_data(ping(b"late")) == []
    assert protocol.data_to_send() == b""


def test_a_pong_queued_before_the_server_closes_goes_first() -> None:
    # Nothing may follow a close frame, so start_close and fail flush the queue ahead of it.
    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_data(ping(b"p"))
    assert protocol.start_close(1000, "") == b"\x8a\x01p\x88\x02\x03\xe8"
    assert protocol.data_to_send() == b""

    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_data(ping(b"p"))
    assert protocol.fail(1011, "oops") == b"\x8a\x01p\x88\x06\x03\xf3oops"
    assert protocol.data_to_send() == b""


# --- the close handshake ----------------------------------------------------------------------


def test_the_client_closes() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(close(1000, b"bye")) == [Close(1000, "bye")]
    # The code is echoed, the reason is not.
    assert protocol.data_to_send() == b"\x88\x02\x03\xe8"
    assert protocol.state is State.CLOSED
    assert protocol.close_sent
    assert protocol.close_received == Close(1000, "bye")
    assert_ignores_everything(protocol)


@pytest.mark.parametrize("code", [1001, 1003, 1008, 1011, 1014, 3000, 4999])
def test_the_echo_repeats_the_code(code: int) -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(close(code, "é".encode())) == [Close(code, "é")]
    assert protocol.data_to_send() == b"\x88\x02" + code.to_bytes(2, "big")


def test_the_client_closes_without_a_code() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(close()) == [Close(None, "")]
    assert protocol.data_to_send() == b"\x88\x00"
    assert protocol.state is State.CLOSED
    assert protocol.close_received == Close(None, "")


def test_nothing_after_the_clients_close_counts() -> None:
    protocol = ServerProtocol(BIG, BIG)
    data = ping(b"1") + text("before") + close(1000) + text("after") + ping(b"2")
    assert protocol.receive_data(data) == ["before", Close(1000, "")]
    assert protocol.data_to_send() == b"\x8a\x011" + b"\x88\x02\x03\xe8"
    # Not even a violation: the connection was over before it.
    protocol = ServerProtocol(BIG, BIG)
    data = close(1001) + frame(0x81, b"unmasked", masked=False)
    assert protocol.receive_data(data) == [Close(1001, "")]
    assert protocol.data_to_send() == b"\x88\x02\x03\xe9"
    assert protocol.state is State.CLOSED


def test_the_server_closes() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.start_close(1001, "going away") == b"\x88\x0c\x03\xe9going away"
    assert protocol.state is State.CLOSING
    assert protocol.close_sent
    assert protocol.close_received is None
    assert protocol.data_to_send() == b""
    # Messages already on their way are still returned; the caller decides to drop them.
    assert protocol.receive_data(text("late") + binary(b"late")) == ["late", Binary(b"late")]
    assert protocol.state is State.CLOSING
    # The client's answer ends the handshake; it is not echoed.
    assert protocol.receive_data(close(1001)) == [Close(1001, "")]
    assert protocol.data_to_send() == b""
    assert protocol.close_received == Close(1001, "")
    assert_ignores_everything(protocol)  # CLOSED


def test_the_server_closes_without_a_code() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.start_close(None, "") == b"\x88\x00"
    assert protocol.state is State.CLOSING
    assert protocol.receive_data(close()) == [Close(None, "")]
    assert_ignores_everything(protocol)  # CLOSED


def test_the_servers_reason_is_cut_on_a_character_boundary() -> None:
    protocol = ServerProtocol(BIG, BIG)
    sent = protocol.start_close(1000, "€" * 50)  # 150 bytes; 41 characters fit in 123
    assert sent == b"\x88\x7d\x03\xe8" + "€".encode() * 41


def test_both_sides_close_at_once() -> None:
    # The client's close crosses the server's: no echo, the handshake is over.
    protocol = closing()
    assert protocol.receive_data(close(1000, b"me too")) == [Close(1000, "me too")]
    assert protocol.data_to_send() == b""
    assert protocol.state is State.CLOSED


# --- invalid close frames ---------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes(code: int) -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(close(code, b"why")) == [Failed(1002, "invalid close code")]
    assert protocol.data_to_send() == server_close(1002, b"invalid close code")
    assert protocol.state is State.CLOSED
    assert protocol.close_received is None
    assert_ignores_everything(protocol)


def test_a_close_payload_of_one_byte() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(frame(0x88, b"\x03")) == [
        Failed(1002, "close frame payload of 1 byte")
    ]
    assert protocol.data_to_send() == server_close(1002, b"close frame payload of 1 byte")
    assert protocol.state is State.CLOSED


def test_a_close_reason_that_is_not_utf8() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(close(1000, b"bad \xff")) == [
        Failed(1007, "close reason is not UTF-8")
    ]
    assert protocol.data_to_send() == server_close(1007, b"close reason is not UTF-8")
    assert protocol.close_received is None


def test_an_invalid_close_while_closing_is_not_answered() -> None:
    protocol = closing()
    assert protocol.receive_data(close(1005)) == [Failed(1002, "invalid close code")]
    assert protocol.data_to_send() == b""  # the server's close already went out
    assert protocol.state is State.CLOSED


# --- failing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code", "reason"),
    [
        (frame(0x81, b"hi", masked=False), 1002, "unmasked frame"),
        (frame(0xC1, b"hi"), 1002, "reserved bits set"),
        (frame(0x83, b"hi"), 1002, "unknown opcode"),
        (frame(0x09, b""), 1002, "fragmented control frame"),
        (frame(0x89, b"x" * 126), 1002, "control frame too long"),
        (cont(b"stray"), 1002, "continuation without a message"),
        (frame(0x81, b"\xff"), 1007, "text message is not UTF-8"),
    ],
)
def test_a_violation_fails_the_connection(bad: bytes, code: int, reason: str) -> None:
    protocol = ServerProtocol(BIG, BIG)
    # What came before it in the same data is delivered (and its ping answered), then Failed.
    data = text("first") + ping(b"p") + binary(b"second") + bad + text("never")
    assert protocol.receive_data(data) == ["first", Binary(b"second"), Failed(code, reason)]
    assert protocol.data_to_send() == b"\x8a\x01p" + server_close(code, reason.encode())
    assert protocol.state is State.CLOSED
    assert protocol.close_sent
    assert protocol.close_received is None
    assert_ignores_everything(protocol)


def test_a_violation_in_a_later_read() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(text("ok")) == ["ok"]
    assert protocol.receive_data(frame(0x82, b"", masked=False)) == [Failed(1002, "unmasked frame")]
    assert protocol.data_to_send() == b"\x88\x10\x03\xeaunmasked frame"


def test_invalid_utf8_text_in_any_shape() -> None:
    for data in (
        text("ok") + frame(0x81, b"\xed\xa0\x80"),  # a surrogate, whole frame
        frame(0x01, b"\xe2\x82") + cont(b"\xac\xff"),  # valid across the cut, then not
    ):
        protocol = ServerProtocol(BIG, BIG)
        events = protocol.receive_data(data)
        assert events[-1] == Failed(1007, "text message is not UTF-8")
        assert protocol.data_to_send() == b"\x88\x1b\x03\xeftext message is not UTF-8"
    # A character cut between fragments is fine.
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(frame(0x01, b"\xe2\x82") + cont(b"\xac")) == ["€"]


def test_failed_is_a_frozen_value() -> None:
    assert Failed(1002, "x") == Failed(1002, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Failed(1002, "x").code = 1000  # type: ignore[misc]


# --- the end of the socket --------------------------------------------------------------------


def test_eof_while_open() -> None:
    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_data(text("half", fin=False))
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert not protocol.close_sent
    assert protocol.close_received is None
    assert_ignores_everything(protocol)


def test_eof_while_closing() -> None:
    protocol = closing()
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_received is None


def test_eof_keeps_what_was_queued() -> None:
    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_data(ping(b"p"))
    protocol.receive_eof()
    assert protocol.data_to_send() == b"\x8a\x01p"


# --- sending in every state -------------------------------------------------------------------


def test_send_message_while_open() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.send_message("hé") == b"\x81\x03h\xc3\xa9"
    assert protocol.send_message(b"\x00") == b"\x82\x01\x00"
    assert protocol.send_message("x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert protocol.data_to_send() == b""
    assert protocol.state is State.OPEN


@pytest.mark.parametrize("make", [closing, *CLOSED])
def test_send_message_unless_open(make: Callable[[], ServerProtocol]) -> None:
    protocol = make()
    with pytest.raises(ConnectionClosed):
        protocol.send_message("too late")
    with pytest.raises(ConnectionClosed):
        protocol.send_message(b"too late")


@pytest.mark.parametrize("make", [closing, *CLOSED])
def test_start_close_unless_open(make: Callable[[], ServerProtocol]) -> None:
    protocol = make()
    state = protocol.state
    assert protocol.start_close(1000, "") == b""
    assert protocol.state is state


def test_fail_while_open() -> None:
    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_data(text("half", fin=False))
    assert protocol.fail(1011, "internal error") == b"\x88\x10\x03\xf3internal error"
    assert protocol.state is State.CLOSED
    assert protocol.close_sent
    assert protocol.data_to_send() == b""
    assert_ignores_everything(protocol)


def test_fail_while_closing() -> None:
    protocol = closing()
    assert protocol.fail(1011, "internal error") == b""  # one close frame only
    assert protocol.state is State.CLOSED
    assert_ignores_everything(protocol)


@pytest.mark.parametrize("make", CLOSED)
def test_fail_once_closed(make: Callable[[], ServerProtocol]) -> None:
    protocol = make()
    assert protocol.fail(1011, "internal error") == b""
    assert protocol.state is State.CLOSED


def test_fail_after_the_clients_close_sends_the_queued_echo() -> None:
    protocol = ServerProtocol(BIG, BIG)
    protocol.receive_data(close(1000))
    # The echo was queued but not fetched yet: it goes, and nothing after it.
    assert protocol.fail(1011, "") == b"\x88\x02\x03\xe8"
    assert protocol.data_to_send() == b""


# --- fragments and limits ---------------------------------------------------------------------


def test_fragmented_messages_with_control_frames_between() -> None:
    protocol = ServerProtocol(BIG, BIG)
    assert protocol.receive_data(text("he", fin=False)) == []
    assert protocol.receive_data(ping(b"1")) == []
    assert protocol.data_to_send() == b"\x8a\x011"
    assert protocol.receive_data(cont(b"ll", fin=False) + pong(b"2")) == []
    assert protocol.receive_data(cont(b"o")) == ["hello"]
    data = binary(b"a", fin=False) + ping(b"3") + cont(b"b", fin=False) + cont(b"c")
    assert protocol.receive_data(data) == [Binary(b"abc")]
    assert protocol.data_to_send() == b"\x8a\x013"


def test_a_close_between_fragments_ends_the_connection() -> None:
    protocol = ServerProtocol(BIG, BIG)
    data = text("he", fin=False) + close(1000) + cont(b"llo")
    assert protocol.receive_data(data) == [Close(1000, "")]
    assert protocol.data_to_send() == b"\x88\x02\x03\xe8"


def test_a_frame_over_the_limit() -> None:
    protocol = ServerProtocol(10, BIG)
    assert protocol.receive_data(text("x" * 10)) == ["x" * 10]
    # Known from the header alone: the payload is not awaited.
    assert protocol.receive_data(binary(b"x" * 11)[:2]) == [Failed(1009, "frame too big")]
    assert protocol.data_to_send() == b"\x88\x0f\x03\xf1frame too big"
    assert protocol.state is State.CLOSED


def test_a_message_over_the_limit() -> None:
    protocol = ServerProtocol(60, 100)
    assert protocol.receive_data(text("a" * 60, fin=False) + ping(b"p")) == []
    assert protocol.receive_data(cont(b"b" * 40, fin=False)) == []
    assert protocol.data_to_send() == b"\x8a\x01p"
    assert protocol.receive_data(cont(b"c")) == [Failed(1009, "message too big")]
    assert protocol.data_to_send() == b"\x88\x11\x03\xf1message too big"
    assert protocol.state is State.CLOSED


def test_a_message_at_the_limit() -> None:
    protocol = ServerProtocol(60, 100)
    data = text("a" * 60, fin=False) + cont(b"b" * 40)
    assert protocol.receive_data(data) == ["a" * 60 + "b" * 40]


# --- any split of a stream gives the same result ----------------------------------------------


controls = st.one_of(
    st.binary(max_size=125).map(lambda p: ("ping", p)),
    st.binary(max_size=125).map(lambda p: ("pong", p)),
)

messages = st.one_of(
    st.text(max_size=150),
    st.binary(max_size=150).map(Binary),
)

endings = st.sampled_from(
    [
        "none",
        "close",
        "close without code",
        "close then junk",
        "unmasked",
        "bad utf-8",
        "bad close code",
    ]
)


def run(pieces: list[bytes], eof: bool) -> tuple[list[Event], bytes, State]:
    protocol = ServerProtocol(BIG, BIG)
    events: list[Event] = []
    out = b""
    for piece in pieces:
        events += protocol.receive_data(piece)
        out += protocol.data_to_send()
    if eof:
        protocol.receive_eof()
        out += protocol.data_to_send()
    return events, out, protocol.state


@settings(max_examples=300)
@given(st.data())
def test_any_split_gives_the_same_events_and_frames(data: st.DataObject) -> None:
    stream = bytearray()
    events: list[Event] = []
    out = bytearray()  # what the server must write: pongs, then a close frame if any

    def add_control(control: tuple[str, bytes]) -> None:
        kind, payload = control
        if kind == "ping":
            stream.extend(client_frame(Opcode.PING, payload))
            out.extend(b"\x8a" + bytes((len(payload),)) + payload)
        else:
            stream.extend(client_frame(Opcode.PONG, payload))

    for _ in range(data.draw(st.integers(0, 5), label="items")):
        if data.draw(st.booleans(), label="control alone"):
            add_control(data.draw(controls))
            continue
        message = data.draw(messages)
        frames = fragmented(data, message, max_cuts=3)
        for index, frame in enumerate(frames):
            stream += frame
            if index < len(frames) - 1:
                for control in data.draw(st.lists(controls, max_size=2), label="between"):
                    add_control(control)
        events.append(message)

    ending = data.draw(endings, label="ending")
    state = State.OPEN
    if ending.startswith("close"):
        if ending == "close without code":
            stream += client_frame(Opcode.CLOSE, b"")
            events.append(Close(None, ""))
            out += b"\x88\x00"
        else:
            stream += client_frame(Opcode.CLOSE, WsClose(1000, "bye").serialize())
            events.append(Close(1000, "bye"))
            out += b"\x88\x02\x03\xe8"
        if ending == "close then junk":
            stream += client_frame(Opcode.PING, b"ignored") + client_frame(Opcode.TEXT, b"no")
            stream += Frame(Opcode.TEXT, b"unmasked").serialize(mask=False)
        state = State.CLOSED
    elif ending != "none":
        code, reason, bad = {
            "unmasked": (1002, "unmasked frame", Frame(Opcode.TEXT, b"x").serialize(mask=False)),
            "bad utf-8": (1007, "text message is not UTF-8", client_frame(Opcode.TEXT, b"\xff")),
            "bad close code": (1002, "invalid close code", client_frame(Opcode.CLOSE, b"\x03\xed")),
        }[ending]
        stream += bad + client_frame(Opcode.TEXT, b"ignored")
        events.append(Failed(code, reason))
        out += server_close(code, reason.encode())
        state = State.CLOSED

    whole = bytes(stream)
    eof = data.draw(st.booleans(), label="eof")
    expected = (events, bytes(out), State.CLOSED if eof else state)
    assert run([whole], eof) == expected
    split = data.draw(st.sampled_from(["bytes", "random"]), label="split")
    if split == "bytes":
        pieces = [whole[i : i + 1] for i in range(len(whole))]
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=20), label="at"))
        bounds = [0, *cuts, len(whole)]
        pieces = [whole[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert run(pieces, eof) == expected

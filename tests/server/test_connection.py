"""The connection's I/O without a socket: events in order, writes, the close handshake's
timing and backpressure, through a fake transport."""

from __future__ import annotations

import asyncio
import struct

import pytest
from websockets.frames import Frame, Opcode

from tests.server.fake_transport import FakeTransport
from wsgate.core.framing import Binary, Close
from wsgate.core.protocol import ConnectionClosed, Failed
from wsgate.server.connection import (
    ENDED,
    HIGH_WATER,
    LOW_WATER,
    MAX_BUFFERED,
    PAUSE_AT,
    RESUME_AT,
    WebSocketConnection,
)


def frame(opcode: Opcode, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked frame as the websockets client library sends it."""
    return Frame(opcode, payload, fin=fin).serialize(mask=True, extensions=[])


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (opcode, payload) of each unmasked frame the server wrote."""
    frames, pos = [], 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        length, pos = second & 0x7F, pos + 2
        if length == 126:
            length, pos = struct.unpack("!H", data[pos : pos + 2])[0], pos + 2
        elif length == 127:
            length, pos = struct.unpack("!Q", data[pos : pos + 8])[0], pos + 8
        frames.append((first & 0x0F, data[pos : pos + length]))
        pos += length
    return frames


def connect() -> tuple[WebSocketConnection, FakeTransport]:
    transport = FakeTransport()
    ws = WebSocketConnection(transport, max_frame_bytes=32768, max_message_bytes=131072)
    transport.attach(ws)
    return ws, transport


async def test_events_reach_the_reader_in_order() -> None:
    ws, client = connect()
    client.receive(frame(Opcode.TEXT, b"one") + frame(Opcode.BINARY, b"\x00"))
    client.receive(frame(Opcode.TEXT, b"tw", fin=False) + frame(Opcode.CONT, b"o"))
    assert [await ws.receive() for _ in range(3)] == ["one", Binary(b"\x00"), "two"]
    client.abort()
    assert await ws.receive() is ENDED


async def test_pings_are_answered_at_once() -> None:
    ws, client = connect()
    client.receive(frame(Opcode.PING, b"p1") + frame(Opcode.TEXT, b"hi"))
    assert server_frames(client.drain()) == [(Opcode.PONG.value, b"p1")]
    assert await ws.receive() == "hi"


async def test_a_client_that_pings_and_never_reads_is_no_longer_read() -> None:
    """The pongs it does not read pile up only to the high-water mark: then the
    connection stops reading, and TCP holds the client's pings."""
    ws, client = connect()
    pings = frame(Opcode.PING, b"x" * 125) * 100
    sent = 0
    while client.reading:
        client.receive(pings)
        sent += 1
        assert sent < 1000, "never stopped reading"
    assert HIGH_WATER < client.get_write_buffer_size() <= HIGH_WATER + len(pings)
    # Once the client reads, so does the server.
    client.drain(client.get_write_buffer_size() - LOW_WATER)
    assert client.reading
    client.receive(frame(Opcode.TEXT, b"still here"))
    assert await ws.receive() == "still here"


async def test_a_reader_that_falls_behind_pauses_reading_until_it_caught_up() -> None:
    ws, client = connect()
    for n in range(PAUSE_AT):
        client.receive(frame(Opcode.TEXT, str(n).encode()))
    assert not client.reading
    for n in range(PAUSE_AT - RESUME_AT - 1):
        assert await ws.receive() == str(n)
        assert not client.reading
    await ws.receive()
    assert client.reading


async def test_the_answer_to_a_client_close_follows_the_replies_to_earlier_messages() -> None:
    ws, client = connect()
    client.receive(frame(Opcode.TEXT, b"m") + frame(Opcode.CLOSE, struct.pack("!H", 4001)))
    assert not client.reading  # nothing more is read after a close
    assert client.drain() == b""  # the echoed close waits for the reader
    assert await ws.receive() == "m"
    assert ws.send_message("reply to m")
    close = await ws.receive()
    assert isinstance(close, Close) and close.code == 4001
    ws.finish()
    assert server_frames(client.drain()) == [
        (Opcode.TEXT.value, b"reply to m"),
        (Opcode.CLOSE.value, struct.pack("!H", 4001)),
    ]
    assert client.lost and not ws.open
    with pytest.raises(ConnectionClosed):
        ws.send_message("too late")


async def test_a_violation_is_answered_with_its_code_after_earlier_replies() -> None:
    ws, client = connect()
    unmasked = Frame(Opcode.TEXT, b"bad").serialize(mask=False, extensions=[])
    client.receive(frame(Opcode.TEXT, b"m") + unmasked)
    assert await ws.receive() == "m"
    assert ws.send_message("reply")
    failed = await ws.receive()
    assert isinstance(failed, Failed) and failed.code == 1002
    ws.finish()
    written = server_frames(client.drain())
    assert written[0] == (Opcode.TEXT.value, b"reply")
    assert written[1][0] == Opcode.CLOSE.value and written[1][1][:2] == struct.pack("!H", 1002)
    assert client.lost


async def test_a_server_close_waits_for_the_client_then_drops_it() -> None:
    ws, client = connect()
    ws.start_close(1001, "Going away", answer_within=0.05)
    assert server_frames(client.drain()) == [(Opcode.CLOSE.value, b"\x03\xe9Going away")]
    assert not ws.open
    with pytest.raises(ConnectionClosed):
        ws.send_message("after close")
    # A message the client sent meanwhile still arrives; its close never comes.
    client.receive(frame(Opcode.TEXT, b"late"))
    assert await ws.receive() == "late"
    assert await asyncio.wait_for(ws.receive(), 1) is ENDED
    assert client.aborted


async def test_a_server_close_answered_by_the_client_ends_cleanly() -> None:
    ws, client = connect()
    ws.start_close(1000, "bye")
    client.drain()
    client.receive(frame(Opcode.CLOSE, struct.pack("!H", 1000)))
    close = await ws.receive()
    assert isinstance(close, Close) and close.code == 1000
    ws.finish()
    assert client.drain() == b""  # nothing more: the close was already sent
    assert client.lost and not client.aborted


async def test_a_message_that_does_not_fit_is_refused_whole() -> None:
    ws, _client = connect()
    chunk = "x" * 65536
    written = 0
    while ws.send_message(chunk):
        written += 1
    assert written * len(chunk) <= MAX_BUFFERED < (written + 1) * len(chunk) + 16
    assert ws.buffered <= MAX_BUFFERED
    # Bytes other threads queued count too.
    assert not ws.send_message("y", queued=MAX_BUFFERED)

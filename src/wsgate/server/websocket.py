"""An open WebSocket on an asyncio transport: frames in, events out, the close handshake.

This is the per-connection I/O the session talks to. It parses what the client sends
(``core.framing``), answers pings, keeps the close handshake, and hands every other
event to one reader through ``receive``. Frames the gateway sends are written by the
session straight to ``transport``.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from typing import Final

from wsgate.core.frames import OPCODE_CLOSE, OPCODE_PONG, encode_frame
from wsgate.core.framing import Close, Event, FrameParser, Ping, Pong, ProtocolError


__all__ = ["CLOSE_TIMEOUT", "Ended", "Failed", "WebSocket"]

CLOSE_TIMEOUT: Final = 10.0
"""Seconds the client has to answer the server's close frame before the socket is dropped."""

# Events waiting for the reader before the socket stops being read: a client that sends
# faster than its messages are handled is slowed by TCP instead of growing memory.
_PAUSE_AT: Final = 64
_RESUME_AT: Final = 16

_CLOSE_CODE = struct.Struct("!H")


class Ended:
    """The socket closed (or was dropped) without a close frame from the client."""

    __slots__ = ()


class Failed:
    """The client broke the protocol; the connection was failed with ``code``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


ENDED: Final = Ended()


def close_frame(code: int | None, reason: str) -> bytes:
    """A close frame with ``code`` and ``reason`` (nothing when ``code`` is None)."""
    if code is None:
        return encode_frame(OPCODE_CLOSE, b"")
    # A control frame carries at most 125 bytes: 2 for the code, 123 for the reason.
    return encode_frame(OPCODE_CLOSE, _CLOSE_CODE.pack(code) + reason.encode()[:123])


class WebSocket(asyncio.Protocol):
    """The transport's protocol once the upgrade is done."""

    __slots__ = (
        "_close_timer",
        "_events",
        "_failed",
        "_loop",
        "_parser",
        "_paused",
        "_waiter",
        "close_sent",
        "lost",
        "transport",
    )

    def __init__(
        self, transport: asyncio.Transport, max_frame_bytes: int, max_message_bytes: int
    ) -> None:
        self.transport = transport
        self._parser = FrameParser(max_frame_bytes, max_message_bytes)
        self._loop = asyncio.get_running_loop()
        self._events: deque[Event | Ended | Failed] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._failed = False
        self._close_timer: asyncio.TimerHandle | None = None
        self.close_sent = False
        """The server's close frame went out: nothing more may be sent."""
        self.lost = False
        """The socket is closed."""

    @property
    def closed(self) -> bool:
        """Whether the connection is closing or closed: no frame may be sent any more."""
        return self.close_sent or self.lost

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        if self._failed:
            return
        error: ProtocolError | None = None
        try:
            events = self._parser.feed(data)
        except ProtocolError as exc:
            # What the client sent before it broke the protocol is still delivered.
            events, error = exc.events, exc
        for event in events:
            if type(event) is str:  # the usual event first
                self._events.append(event)
            elif isinstance(event, Ping):
                if not self.close_sent:
                    self.transport.write(encode_frame(OPCODE_PONG, event.payload))
            elif not isinstance(event, Pong):
                self._events.append(event)
        if error is not None:
            self._fail(error.code, error.reason)
            return
        self._wake()
        if len(self._events) >= _PAUSE_AT and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-closed WebSocket is of no use

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._events.append(ENDED)
        self._wake()

    # For the session

    def feed_early(self, data: bytes) -> None:
        """Take bytes the client sent right behind its upgrade request."""
        if data:
            self.data_received(data)

    async def receive(self) -> Event | Ended | Failed:
        """The next message, close or end of the connection, in the order they came."""
        events = self._events
        while not events:
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        event = events.popleft()
        if self._paused and len(events) <= _RESUME_AT and not (self.lost or self._failed):
            self._paused = False
            self.transport.resume_reading()
        return event

    def start_close(self, code: int | None, reason: str) -> None:
        """Send the close frame; the socket is dropped if the client does not answer."""
        if self.closed:
            return
        self.close_sent = True
        self.transport.write(close_frame(code, reason))
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.transport.abort)

    def answer_close(self, close: Close) -> None:
        """The client closed: echo its code, as RFC 6455 §5.5.1 asks, and end the socket."""
        if not self.close_sent and not self.lost:
            self.close_sent = True
            self.transport.write(close_frame(close.code, ""))
        self.finish()

    def finish(self) -> None:
        """Close the socket once what was written is sent (the server closes TCP first)."""
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if not self.lost:
            self.transport.close()

    def _fail(self, code: int, reason: str) -> None:
        """Stop reading a client that broke the protocol; the session fails the connection
        (``fail``) once it has handled what came before."""
        self._failed = True
        self._events.append(Failed(code, reason))
        self._wake()
        if not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def fail(self, failed: Failed) -> None:
        """Fail the connection (RFC 6455 §7.1.7): close frame with its code, then the socket."""
        if not self.closed:
            self.close_sent = True
            self.transport.write(close_frame(failed.code, failed.reason))
        self.finish()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

"""One WebSocket connection's I/O: bytes between a ``Transport`` and the sans-I/O protocol.

What to send and when the connection is over is decided by ``core.protocol``; this
module only moves bytes, hands events to one reader, keeps the close handshake's timer,
and applies backpressure. Backpressure is one rule for everything written (messages,
pongs, close frames): once the transport holds more than ``HIGH_WATER`` unsent bytes,
reading stops until it drained below ``LOW_WATER``. A client that sends (pings, say) but
never reads is thus held by TCP instead of growing the gateway's memory. Reading also
stops while the reader has ``PAUSE_AT`` events waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

from wsgate.core.frames import encode_message
from wsgate.core.protocol import ServerProtocol, State
from wsgate.server.transport import Transport


__all__ = [
    "CLOSE_TIMEOUT",
    "ENDED",
    "HIGH_WATER",
    "LOW_WATER",
    "MAX_BUFFERED",
    "Ended",
    "WebSocketConnection",
]

CLOSE_TIMEOUT: Final = 10.0
"""Seconds the client has to answer the server's close frame before the socket is dropped."""

MAX_BUFFERED: Final = 4 * 1024 * 1024
"""Unsent bytes past which a message is refused (``BufferFull``: 429 to a management POST)."""

HIGH_WATER: Final = 1024 * 1024
"""Unsent bytes past which the connection stops reading (below ``MAX_BUFFERED``, so that
a client that does not read is slowed before its messages are refused)."""

LOW_WATER: Final = 256 * 1024
"""Unsent bytes below which reading resumes."""

# Events waiting for the reader before the socket stops being read.
PAUSE_AT: Final = 64
RESUME_AT: Final = 16

_OPEN: Final = State.OPEN  # an Enum attribute lookup costs about 100 ns, twice per read
_CLOSED: Final = State.CLOSED

# Why reading is paused: each reason is lifted on its own.
_BACKLOG: Final = 1
_WRITING: Final = 2
_OVER: Final = 4


class Ended:
    """The socket closed (or was dropped) without a close frame from the client."""

    __slots__ = ()


ENDED: Final = Ended()


class WebSocketConnection(asyncio.Protocol):
    """The transport's protocol once the upgrade is done.

    Events go to one reader through ``receive``, in order: text messages (``str``),
    ``Binary``, the client's ``Close``, ``Failed`` (the client broke the protocol) and
    finally ``ENDED`` if the socket ends without a close. Once the reader took a
    ``Close`` or ``Failed`` it calls ``finish``: the protocol's answer (the echoed close,
    or the failure's close frame) goes out then, after any reply to the messages before it.
    """

    __slots__ = (
        "_answer",
        "_close_timer",
        "_events",
        "_loop",
        "_paused",
        "_protocol",
        "_waiter",
        "lost",
        "on_text",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        max_frame_bytes: int,
        max_message_bytes: int,
        max_fragments: int = 1024,
    ) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        self._protocol = ServerProtocol(max_frame_bytes, max_message_bytes, max_fragments)
        self._loop = asyncio.get_running_loop()
        self._events: deque[object] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = 0
        """Why reading is paused (``_BACKLOG | _WRITING | _OVER``); 0 while reading."""
        self._close_timer: asyncio.TimerHandle | None = None
        self._answer: bytes | None = None
        """The protocol's answer to the client's close or violation, held until the reader
        got there (``finish``), so that replies to the messages before it go first."""
        self.lost = False
        """The socket is closed."""
        self.on_text: Callable[[str], object] | None = None
        """The reader's fast lane (``server.lifecycle``): a text message that comes while
        the reader waits with nothing queued is handed to it from ``data_received``,
        sparing the reader's wake-up. It returns None once it took the message, else the
        event to queue for the reader in its place."""

    @property
    def open(self) -> bool:
        """Whether a message may still be sent: no close frame went out, and the reader
        has not reached the client's close yet."""
        return not self.lost and (self._protocol.state is _OPEN or self._answer is not None)

    # asyncio.Protocol: what the data plane calls

    def data_received(self, data: bytes) -> None:
        protocol = self._protocol
        was_open = protocol.state is _OPEN
        events = protocol.receive_data(data)
        if was_open and protocol.state is _CLOSED:
            # The client closed or broke the protocol. The answer waits until the reader
            # got there (``finish``): replies to the messages before it go first.
            self._answer = protocol.data_to_send()
            self._pause(_OVER)
        elif protocol.pending:  # pongs
            self.transport.write(protocol.data_to_send())
        if events:
            waiter = self._waiter
            if (
                waiter is not None
                and self.on_text is not None
                and len(events) == 1
                and type(events[0]) is str
                and not waiter.done()
            ):
                taken = self.on_text(events[0])
                if taken is None:
                    return
                self._events.append(taken)
            else:
                self._events.extend(events)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if len(self._events) >= PAUSE_AT:
                self._pause(_BACKLOG)

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-closed WebSocket is of no use

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._protocol.receive_eof()
        self._cancel_close_timer()
        self._events.append(ENDED)
        self._wake()

    def pause_writing(self) -> None:
        self._pause(_WRITING)

    def resume_writing(self) -> None:
        self._resume(_WRITING)

    # For the session

    def feed_early(self, data: bytes) -> None:
        """Take bytes the client sent right behind its upgrade request."""
        if data:
            self.data_received(data)

    async def receive(self) -> object:
        """The next event (see the class docstring), in the order they came."""
        events = self._events
        while not events:
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        event = events.popleft()
        if self._paused & _BACKLOG and len(events) <= RESUME_AT:
            self._resume(_BACKLOG)
        return event

    def send_message(self, data: str | bytes, queued: int = 0) -> bool:
        """Write one message (``str`` as text, ``bytes`` as binary), unless the client is
        too far behind: False then, and nothing was written. ``queued`` more bytes are on
        their way from other threads. Never waits: the transport buffers the frame.

        Raises:
            ConnectionClosed: a close frame went out or came in (``core.protocol``).
        """
        if self._answer is None:
            frame = self._protocol.send_message(data)
        else:  # a reply to a message the client sent before its close
            frame = encode_message(data)
        transport = self.transport
        if transport.get_write_buffer_size() + queued + len(frame) > MAX_BUFFERED:
            return False
        transport.write(frame)
        return True

    def write_frame(self, frame: bytes) -> bool:
        """Write a message frame built elsewhere (``core.frames.encode_message``, in
        another thread, which also checked the room for it); False, writing nothing,
        once the connection is closing."""
        if not self.open:
            return False
        self.transport.write(frame)
        return True

    @property
    def buffered(self) -> int:
        """Bytes written but not yet sent."""
        return self.transport.get_write_buffer_size()

    def start_close(
        self, code: int | None, reason: str, answer_within: float = CLOSE_TIMEOUT
    ) -> None:
        """Send the close frame; the socket is dropped if the client does not answer
        within ``answer_within`` seconds."""
        if self.lost:
            return
        frame = self._protocol.start_close(code, reason)
        if frame:
            self.transport.write(frame)
            self._close_timer = self._loop.call_later(answer_within, self.transport.abort)

    def finish(self) -> None:
        """The reader is done with the connection: send what the protocol still has to
        say (an echoed close, a failure's close frame), then close the socket; the server
        closes TCP first (RFC 6455 §7.1.1)."""
        self._cancel_close_timer()
        answer, self._answer = self._answer, None
        if self.lost:
            return
        pending = self._protocol.data_to_send()
        if answer:
            self.transport.write(answer)
        if pending:
            self.transport.write(pending)
        self.transport.close()

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection from the server's side (RFC 6455 §7.1.7) and close it."""
        if self.lost:
            return
        frame = self._protocol.fail(code, reason) if self._answer is None else b""
        if frame:
            self.transport.write(frame)
        self.finish()

    # Reading

    def _pause(self, why: int) -> None:
        if not self._paused and not self.lost:
            self.transport.pause_reading()
        self._paused |= why

    def _resume(self, why: int) -> None:
        if not self._paused & why:
            return
        self._paused &= ~why
        if not self._paused and not self.lost:
            self.transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _cancel_close_timer(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None

"""One WebSocket connection, server side, without I/O (RFC 6455 §5.5 and §7).

:class:`ServerProtocol` is the connection's whole state machine: bytes from the client go
in, messages come out, and the frames to write come back as bytes. It answers pings, keeps
the close handshake and fails the connection when the client breaks the protocol. It has no
socket, no task and no clock, so every path is tested by feeding it bytes; the I/O layer
moves bytes and owns the timers (such as how long to wait for the client's close frame).

The I/O layer's loop::

    events = protocol.receive_data(data)      # after every read
    transport.write(protocol.data_to_send())  # the pongs and close frames it queued
    ...                                       # hand the events over
    if protocol.state is State.CLOSED:
        transport.close()

and, whenever it has something to send, it writes what :meth:`ServerProtocol.send_message`,
:meth:`ServerProtocol.start_close` or :meth:`ServerProtocol.fail` return.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from wsgate.core.frames import Opcode, encode_close, encode_frame, encode_message
from wsgate.core.framing import Binary, Close, FrameParser, Ping, ProtocolError
from wsgate.core.framing import Event as FrameEvent


__all__ = ["Binary", "Close", "ConnectionClosed", "Event", "Failed", "ServerProtocol", "State"]


class State(enum.Enum):
    """Where a connection is in its life; it only ever moves down this list."""

    OPEN = 1
    """Messages flow both ways."""
    CLOSING = 2
    """The server sent its close frame and waits for the client's; messages that still
    arrive are returned, but nothing more may be sent."""
    CLOSED = 3
    """The close handshake is over, or the connection failed, or the socket ended: the I/O
    layer closes TCP once it wrote :meth:`ServerProtocol.data_to_send` (the server closes
    first, RFC 6455 §7.1.1)."""


# Module-level aliases for the methods called per message: an Enum attribute lookup costs
# about 100 ns on Python 3.11.
_OPEN: Final = State.OPEN
_CLOSING: Final = State.CLOSING
_CLOSED: Final = State.CLOSED
_PONG: Final = int(Opcode.PONG)
_TEXT: Final = int(Opcode.TEXT)
_FIN_TEXT: Final = 0x80 | _TEXT  # the first byte of a whole text frame


class ConnectionClosed(Exception):
    """A message cannot be sent: the connection is closing or closed."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The client broke the protocol; the connection is failed (RFC 6455 §7.1.7).

    The close frame with ``code`` and ``reason`` is already queued, unless the server's close
    went out before.
    """

    code: int
    reason: str


# What ServerProtocol.receive_data returns; a text message is a plain str, the usual event.
Event = str | Binary | Close | Failed


class ServerProtocol:
    """The server side of one WebSocket connection, from the 101 response on.

    Args:
        max_frame_bytes: largest frame payload the client may send; a larger one fails the
            connection with 1009.
        max_message_bytes: largest message, reassembled from its frames; same.
        max_fragments: most frames one message may come in; same.
    """

    __slots__ = ("_close_received", "_close_sent", "_parser", "pending", "state")

    def __init__(
        self, max_frame_bytes: int, max_message_bytes: int, max_fragments: int = 1024
    ) -> None:
        self.state: State = _OPEN
        """Where the connection is; read it, never set it."""
        # None once CLOSED: nothing more is parsed, and a partial message is freed. Testing
        # it is also the cheapest "are we closed?" check on the hot path.
        self._parser: FrameParser | None = FrameParser(
            max_frame_bytes, max_message_bytes, max_fragments
        )
        # Control frames queued for data_to_send(); rare, so bytes concatenation is fine.
        self.pending = b""
        """Bytes queued for :meth:`data_to_send` (pongs, close frames); read it, never set
        it. Testing it spares the I/O layer a call after every read."""
        self._close_sent = False
        self._close_received: Close | None = None

    @property
    def close_sent(self) -> bool:
        """Whether the server's close frame went out (or is queued): nothing may follow it."""
        return self._close_sent

    @property
    def close_received(self) -> Close | None:
        """The client's close frame, once it came."""
        return self._close_received

    # Receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse ``data``, any piece of the stream; return the events it completes, in order.

        Pings are answered (a pong with the same payload is queued for
        :meth:`data_to_send`, unless the server's close went out) and pongs are dropped.
        The client's :class:`Close` ends the connection: its echo is queued when the server
        had not closed yet, and whatever follows it is ignored. A protocol violation ends
        the list with :class:`Failed`, after the events that came before it, and queues the
        close frame. Once CLOSED, data is ignored.

        Args:
            data: bytes read from the socket.

        Returns:
            Text messages (``str``), :class:`Binary` messages, the client's :class:`Close`,
            and :class:`Failed`.
        """
        parser = self._parser
        if parser is None:
            return []
        try:
            events = parser.feed(data)
        except ProtocolError as error:
            return self._receive_error(error)
        if len(events) == 1 and type(events[0]) is str:
            # One text message, the usual case: the parser's list goes out as it is. mypy
            # cannot see that it is a list[Event] too, and cast() would cost a call.
            return events  # type: ignore[return-value]
        return self._receive_events(events)

    def receive_eof(self) -> None:
        """The client ended the socket (without a close frame, unless one came before)."""
        self._set_closed()

    def data_to_send(self) -> bytes:
        """The control frames queued by :meth:`receive_data`, emptied by the call.

        Returns:
            Pongs and close frames to write, in order; ``b""`` when there are none.
        """
        out = self.pending
        if out:
            self.pending = b""
        return out

    def _receive_events(self, events: list[FrameEvent]) -> list[Event]:
        """Handle the control frames among ``events``; return the events for the caller."""
        kept: list[Event] = []
        for event in events:
            if isinstance(event, (str, Binary)):
                kept.append(event)
            elif isinstance(event, Ping):
                # After the server's close, nothing may be sent (RFC 6455 §5.5.1).
                if not self._close_sent:
                    self.pending += encode_frame(_PONG, event.payload)
            elif isinstance(event, Close):
                kept.append(event)
                self._receive_close(event)
                break  # the client may send nothing after its close frame: ignore the rest
            # else a Pong: the server sends no pings, so it answers nothing.
        return kept

    def _receive_close(self, close: Close) -> None:
        self._close_received = close
        if not self._close_sent:
            # Echo the code, as RFC 6455 §5.5.1 asks (no code for a close without one).
            self._close_sent = True
            self.pending += encode_close(close.code, "")
        self._set_closed()

    def _receive_error(self, error: ProtocolError) -> list[Event]:
        # What the client sent before it broke the protocol is still its messages.
        events = self._receive_events(error.events)
        if self.state is _CLOSED:
            return events  # its close frame came first: what followed does not count
        events.append(Failed(error.code, error.reason))
        if not self._close_sent:
            self._close_sent = True
            self.pending += encode_close(error.code, error.reason)
        self._set_closed()
        return events

    def _set_closed(self) -> None:
        self.state = _CLOSED
        self._parser = None

    # Sending

    def send_message(self, data: str | bytes) -> bytes:
        """The frame that sends one message: text for ``str``, binary for ``bytes``.

        Returns:
            The bytes to write.

        Raises:
            ConnectionClosed: the connection is not OPEN.
        """
        if self.state is not _OPEN:
            raise ConnectionClosed(f"cannot send a message: the connection is {self.state.name}")
        # encode_message, inlined for a short text frame: this runs once per message sent.
        if type(data) is str:
            payload = data.encode()
            if len(payload) < 126:
                return bytes((_FIN_TEXT, len(payload))) + payload
            return encode_frame(_TEXT, payload)
        return encode_message(data)

    def start_close(self, code: int | None, reason: str) -> bytes:
        """Begin the close handshake: the state becomes CLOSING until the client answers.

        Args:
            code: the close code, or None for a close frame without payload.
            reason: why, cut to 123 bytes of UTF-8 on a character boundary.

        Returns:
            The bytes to write: control frames still queued (nothing may follow a close
            frame), then the close frame. ``b""``, and no change, unless OPEN.
        """
        if self.state is not _OPEN:
            return b""
        self._close_sent = True
        self.state = _CLOSING
        return self.data_to_send() + encode_close(code, reason)

    def fail(self, code: int, reason: str) -> bytes:
        """Fail the connection from the server's side (e.g. an internal error); CLOSED.

        Args:
            code: the close code.
            reason: why, cut to 123 bytes of UTF-8 on a character boundary.

        Returns:
            The bytes to write: control frames still queued, then the close frame unless
            the server's close already went out (or the connection was already CLOSED).
        """
        out = self.data_to_send()
        if not self._close_sent and self.state is not _CLOSED:
            self._close_sent = True
            out += encode_close(code, reason)
        self._set_closed()
        return out

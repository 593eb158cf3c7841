"""The frames a WebSocket client sends, parsed incrementally (RFC 6455 §5, server side).

Pure so it can be fed from ``asyncio.Protocol.data_received`` and tested without sockets: bytes
in any split go in, whole messages and control frames come out, and the first protocol
violation becomes a :class:`ProtocolError` carrying the close code to answer with. No
extensions are negotiated, so every RSV bit must be clear.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from wsgate.core.frames import PEER_CLOSE_CODES, CloseCode, Opcode


__all__ = ["Binary", "Close", "Event", "FrameParser", "Ping", "Pong", "ProtocolError"]

# Opcodes as plain ints, from the one definition in frames.py: an Enum attribute lookup
# costs about 100 ns on Python 3.11, and these are compared for every frame.
_OP_CONTINUATION: Final = int(Opcode.CONTINUATION)
_OP_TEXT: Final = int(Opcode.TEXT)
_OP_BINARY: Final = int(Opcode.BINARY)
_OP_CLOSE: Final = int(Opcode.CLOSE)
_OP_PING: Final = int(Opcode.PING)
_OP_PONG: Final = int(Opcode.PONG)

_FIN: Final = 0x80
_RSV: Final = 0x70
_MASKED: Final = 0x80
# The first byte of a final text frame, the one the fast path looks for.
_TEXT_FRAME: Final = _FIN | _OP_TEXT

# A 4-byte key times this is the key repeated 32 times (128 bytes, enough for any 7-bit length)
# as one int: cheaper than building the repeated bytes and converting them.
_REPEAT_32 = int.from_bytes(b"\x00\x00\x00\x01" * 32, "big")


class ProtocolError(Exception):
    """The client broke the protocol; the connection must be closed with ``code``."""

    __slots__ = ("code", "events", "reason")

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason  # goes into a close frame: keep it <= 123 bytes of UTF-8
        self.events: list[Event] = []
        """Whole events that came before the violation in the same ``feed``: the client
        sent them before it broke the protocol, so they are still its messages."""

    def __str__(self) -> str:
        return f"{self.code} {self.reason}"


@dataclass(frozen=True, slots=True)
class Binary:
    """A complete binary message."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping; the caller answers it with a pong carrying the same payload."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong (solicited or not)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame; ``code`` is None when it had no payload."""

    code: int | None
    reason: str


# A text message is delivered as a plain str: it is by far the most common event.
Event = str | Binary | Ping | Pong | Close


def _unmask_int(payload: bytes | bytearray, key: bytes) -> bytes | bytearray:
    """Unmask in pure Python, for when aiohttp's C helper is missing."""
    length = len(payload)
    if not length:
        return b""
    # One big-int XOR instead of a per-byte Python loop; the key is aligned with the first
    # byte, which is the most significant in big-endian, so truncating the repeat is right.
    if length <= 128:
        mask = int.from_bytes(key, "big") * _REPEAT_32 >> ((128 - length) << 3)
    else:
        mask = int.from_bytes((key * ((length >> 2) + 1))[:length], "big")
    return (int.from_bytes(payload, "big") ^ mask).to_bytes(length, "big")


def _c_unmask() -> Callable[[bytes | bytearray, bytes], bytes | bytearray] | None:
    """Unmasking with aiohttp's C XOR (a dependency already), if it was built with it:
    under half the instructions of the int round trip for a 100-byte message, and far
    fewer for long ones."""
    try:
        module = importlib.import_module("aiohttp._websocket.mask")
        xor: Callable[[bytes, bytearray], None] = module._websocket_mask_cython
    except (ImportError, AttributeError):  # pragma: no cover - how aiohttp was installed
        return None

    def unmask(payload: bytes | bytearray, key: bytes) -> bytes | bytearray:
        # A bytearray is unmasked in place: callers pass a fresh slice.
        data = payload if type(payload) is bytearray else bytearray(payload)
        xor(key, data)
        return data

    return unmask


# The payload unmasked, as bytes or a bytearray: callers decode it or make it bytes.
_unmask = _c_unmask() or _unmask_int


def _close(payload: bytes | bytearray) -> Close:
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame payload of 1 byte")
    code = int.from_bytes(payload[:2], "big")
    if code not in PEER_CLOSE_CODES:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "invalid close code")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None
    return Close(code, reason)


class FrameParser:
    """Turns the byte stream from one client into events; one parser per connection."""

    __slots__ = (
        "_buf",
        "_error",
        "_fast_max",
        "_fin",
        "_idle",
        "_key",
        "_length",
        "_max_frame",
        "_max_message",
        "_message",
        "_message_length",
        "_opcode",
        "_parts",
        "_fragments",
        "_max_fragments",
    )

    def __init__(
        self, max_frame_bytes: int, max_message_bytes: int, max_fragments: int = 1024
    ) -> None:
        self._max_frame = max_frame_bytes
        self._max_message = max_message_bytes
        # Largest payload the fast path may accept without checking the limits again.
        self._fast_max = min(125, max_frame_bytes, max_message_bytes)
        # Bytes received but not consumed: at most a partial header, or the payload so far of
        # the frame whose header is below.
        self._buf = bytearray()
        # True when nothing is pending at all, so a whole frame may take the fast path.
        self._idle = True
        self._error: ProtocolError | None = None
        # The frame whose payload is awaited; ``_length`` is -1 while a header is awaited.
        self._length = -1
        self._opcode = 0
        self._fin = False
        self._key = b""
        # The message in progress: its opcode (0 for none), the payloads of its frames so
        # far, and its declared length so far (for the limit).
        self._message = 0
        self._parts: list[bytes | bytearray] = []
        self._message_length = 0
        # Frames of the message in progress: empty continuation frames add nothing to its
        # length, so without this bound a client could make the parser hold millions.
        self._fragments = 0
        self._max_fragments = max_fragments

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data`` (any split of the stream); return the complete events, in order.

        Raises ProtocolError at the first violation, carrying in ``events`` what came before
        it in the same ``data``; after that the parser is unusable (any further feed raises
        an error with the same code and reason, and no events).
        """
        if self._idle:
            # Fast path: ``data`` is exactly one final, masked, unfragmented text frame with a
            # 7-bit length (about 1 us for 100 bytes). A
            # second byte below 0x80 (unmasked) cannot match ``length``, and ``_fast_max``
            # keeps out 126 and 127 (extended lengths).
            size = len(data)
            if size >= 6 and data[0] == _TEXT_FRAME:
                second = data[1]
                length = size - 6
                if second - _MASKED == length and length <= self._fast_max:
                    if not length:
                        return [""]
                    try:
                        return [_unmask(data[6:], data[2:6]).decode()]
                    except UnicodeDecodeError:
                        pass  # the general path raises it, and records it
        try:
            return self._feed(data)
        except ProtocolError as error:
            self._error = error
            self._idle = False
            raise

    def _feed(self, data: bytes) -> list[Event]:
        if self._error is not None:
            raise ProtocolError(self._error.code, self._error.reason)
        buf = self._buf
        src: bytes | bytearray
        if buf:
            buf += data
            src = buf
        else:
            src = data  # parse in place; only what is left over gets copied into the buffer
        end = len(src)
        pos = 0
        events: list[Event] = []
        try:
            while True:
                length = self._length
                if length < 0:
                    if end - pos < 2:
                        break
                    length = self._header(src[pos], src[pos + 1])
                    size = 6  # the two bytes above and the key
                    if length == 126:
                        size = 8
                        if end - pos < 4:
                            break
                        length = int.from_bytes(src[pos + 2 : pos + 4], "big")
                    elif length == 127:
                        size = 14
                        if end - pos < 10:
                            break
                        length = int.from_bytes(src[pos + 2 : pos + 10], "big")
                        if length >> 63:
                            raise ProtocolError(
                                CloseCode.PROTOCOL_ERROR, "payload length with MSB set"
                            )
                    # Checked before the key arrives: no point waiting for a frame we refuse.
                    total = self._check_length(src[pos] & 0x0F, length)
                    if end - pos < size:
                        break
                    # The header is complete: commit it.
                    opcode = src[pos] & 0x0F
                    self._opcode = opcode
                    self._fin = bool(src[pos] & _FIN)
                    self._key = bytes(src[pos + size - 4 : pos + size])
                    self._length = length
                    if opcode < _OP_CLOSE:
                        if opcode:
                            self._message = opcode
                            self._fragments = 1
                        else:
                            self._fragments += 1
                        self._message_length = total
                    pos += size
                if end - pos < length:
                    break
                payload = _unmask(src[pos : pos + length], self._key)
                pos += length
                self._length = -1
                self._deliver(payload, events)
            if src is buf:
                del buf[:pos]  # cheap: a bytearray drops its head without moving the rest
            elif pos < end:
                buf += memoryview(data)[pos:]
            self._idle = not buf and self._length < 0 and not self._message
        except ProtocolError as error:
            error.events = events
            raise
        return events

    def _header(self, first: int, second: int) -> int:
        """Checks the first two bytes of a header; returns the 7-bit length."""
        if first & _RSV:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
        opcode = first & 0x0F
        if opcode >= _OP_CLOSE:
            if opcode > _OP_PONG:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
            if not first & _FIN:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
        elif opcode > _OP_BINARY:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
        if not second & _MASKED:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unmasked frame")
        return second & 0x7F

    def _check_length(self, opcode: int, length: int) -> int:
        """Checks a frame's sequencing and length; returns the message's length so far."""
        if opcode >= _OP_CLOSE:
            if length > 125:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frame too long")
            return 0
        if opcode == _OP_CONTINUATION:
            if not self._message:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation without a message")
            if self._fragments >= self._max_fragments:
                raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
            total = self._message_length + length
        else:
            if self._message:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
            total = length
        if length > self._max_frame:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "frame too big")
        if total > self._max_message:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        return total

    def _deliver(self, payload: bytes | bytearray, events: list[Event]) -> None:
        opcode = self._opcode
        if opcode == _OP_CLOSE:
            events.append(_close(payload))
        elif opcode == _OP_PING:
            events.append(Ping(bytes(payload)))
        elif opcode == _OP_PONG:
            events.append(Pong(bytes(payload)))
        elif not self._fin:
            self._parts.append(payload)
        else:
            if self._parts:
                self._parts.append(payload)
                payload = b"".join(self._parts)
                self._parts = []
            message = self._message
            self._message = 0
            self._message_length = 0
            if message == _OP_BINARY:
                events.append(Binary(bytes(payload)))
                return
            try:
                events.append(payload.decode())
            except UnicodeDecodeError:
                raise ProtocolError(CloseCode.INVALID_DATA, "text message is not UTF-8") from None

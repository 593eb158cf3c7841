"""Opcodes, close codes, and the frames the gateway sends (RFC 6455 §5.2, §7.4).

The frames the server writes are whole, unmasked and uncompressed; parsing what clients
send is ``core.framing``'s job, with the same :class:`Opcode` and :class:`CloseCode`.
"""

from __future__ import annotations

import enum
import struct
from typing import Final


__all__ = [
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_PONG",
    "OPCODE_TEXT",
    "PEER_CLOSE_CODES",
    "CloseCode",
    "Opcode",
    "encode_close",
    "encode_frame",
    "encode_message",
]


class Opcode(enum.IntEnum):
    """A frame's opcode (RFC 6455 §5.2)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """A close frame's status code (RFC 6455 §7.4.1 and the IANA registry's names)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


_LOCAL_ONLY = (CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE)

PEER_CLOSE_CODES: Final[frozenset[int]] = frozenset(
    (*(code for code in CloseCode if code not in _LOCAL_ONLY), *range(3000, 5000))
)
"""Every code a peer may put in a close frame: the registered ones except 1005, 1006 and
1015, which only report a closure locally, plus 3000-4999 (libraries and applications).
One set, so that checking a code is a single lookup."""

# Aliases kept while server/ and benchmarks/ still import them; they go once those use
# Opcode (the lead removes them).
OPCODE_TEXT: Final = Opcode.TEXT
OPCODE_BINARY: Final = Opcode.BINARY
OPCODE_CLOSE: Final = Opcode.CLOSE
OPCODE_PONG: Final = Opcode.PONG

_FIN: Final = 0x80
_LENGTH_16 = struct.Struct("!BBH")
_LENGTH_64 = struct.Struct("!BBQ")
_CLOSE_CODE = struct.Struct("!H")

# First bytes as plain ints: an Enum attribute lookup costs about 100 ns on Python 3.11,
# as much as the rest of encoding a short frame.
_TEXT: Final = int(Opcode.TEXT)
_BINARY: Final = int(Opcode.BINARY)
_EMPTY_CLOSE: Final = bytes((_FIN | Opcode.CLOSE, 0))

# A control frame carries at most 125 bytes: 2 for the code, 123 for the reason.
_MAX_REASON: Final = 123


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame carrying ``payload``, as a server sends it (no mask).

    Args:
        opcode: an :class:`Opcode` (or its value).
        payload: the frame's payload, at most 125 bytes for a control frame.

    Returns:
        The frame's bytes.
    """
    length = len(payload)
    first = _FIN | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return _LENGTH_16.pack(first, 126, length) + payload
    return _LENGTH_64.pack(first, 127, length) + payload


def encode_message(data: str | bytes) -> bytes:
    """One whole message: a text frame for ``str``, a binary frame for ``bytes``."""
    if isinstance(data, str):
        return encode_frame(_TEXT, data.encode())
    return encode_frame(_BINARY, data)


def encode_close(code: int | None, reason: str) -> bytes:
    """A close frame (RFC 6455 §5.5.1).

    Args:
        code: the status code, or None for a close frame without payload (``reason`` is
            then left out: a reason cannot be sent without a code).
        reason: why; cut to 123 bytes of UTF-8 on a character boundary, since a control
            frame's payload is at most 125 bytes and the peer must be able to decode it.
            A lone surrogate, which UTF-8 cannot encode, becomes ``?``.

    Returns:
        The frame's bytes.

    Raises:
        struct.error: ``code`` does not fit in 16 bits.
    """
    if code is None:
        return _EMPTY_CLOSE
    encoded = reason.encode(errors="replace")
    if len(encoded) > _MAX_REASON:
        # Decoding with "ignore" drops exactly the partial character a byte cut leaves at
        # the end; the rest is valid UTF-8 since it came from encode().
        encoded = encoded[:_MAX_REASON].decode(errors="ignore").encode()
    return encode_frame(Opcode.CLOSE, _CLOSE_CODE.pack(code) + encoded)

"""The WebSocket frames the gateway sends: whole, unmasked, uncompressed (RFC 6455 §5.2)."""

from __future__ import annotations

import struct


__all__ = ["OPCODE_BINARY", "OPCODE_CLOSE", "OPCODE_PONG", "OPCODE_TEXT", "encode_frame"]

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PONG = 0xA

_FIN = 0x80
_LENGTH_16 = struct.Struct("!BBH")
_LENGTH_64 = struct.Struct("!BBQ")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final frame carrying ``payload``, as a server sends it (no mask)."""
    length = len(payload)
    first = _FIN | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return _LENGTH_16.pack(first, 126, length) + payload
    return _LENGTH_64.pack(first, 127, length) + payload

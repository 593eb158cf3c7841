"""The frames of the node-to-node link: an operation for the node that owns a connection,
its reply, and the three frames of the handshake that authenticates both ends. Pure: no
I/O.

Every frame is a 4-byte little-endian length, then that many bytes. Fixed binary heads
rather than JSON: a POST crosses as its head and its raw payload, and an operation costs
one ``struct`` call each way. The payload's frame type (text or binary) is the
operation's code, so the owner sends the frame type the asking node was given.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import orjson

from wsgate.registry.base import ConnectionInfo


__all__ = [
    "CLOSE",
    "ERROR",
    "FULL",
    "GONE",
    "INFO",
    "HANDSHAKE_FRAME",
    "MAX_FRAME",
    "OK",
    "SEND_BINARY",
    "SEND_TEXT",
    "STALE",
    "STALE_HELD",
    "FrameReader",
    "LinkRequest",
    "decode_info",
    "decode_reply",
    "decode_request",
    "encode_info",
    "encode_reply",
    "encode_request",
    "frame",
    "reply_head",
]

# Operations.
SEND_TEXT = 1
SEND_BINARY = 2
INFO = 3
CLOSE = 4
_OPERATIONS = frozenset((SEND_TEXT, SEND_BINARY, INFO, CLOSE))

# Outcomes.
OK = 0
GONE = 1
"""The owner holds no connection with this id (the asker checks the directory)."""
FULL = 2
"""``BufferFull``: the client is not reading; nothing was sent."""
ERROR = 3
"""Anything else the owner's connection raised."""
STALE = 4
"""The owner cannot vouch that its lease still runs: the asker goes through Redis."""
STALE_HELD = 5
"""As ``STALE``, but the owner holds the connection: a directory without its entry has
not been given it again yet (Redis lost it), which is no reason for a 410."""

MAX_FRAME = 256 * 1024
"""The longest frame accepted: a POST's 128 KiB and its head, with room to spare."""
HANDSHAKE_FRAME = 256
"""The longest frame read before the other end is authenticated (both ends)."""

_LENGTH = struct.Struct("<I")
_REQUEST = struct.Struct("<IIBB")  # length, request id, operation, length of the id
_REPLY = struct.Struct("<IIB")  # length, request id, outcome
_REQUEST_BODY = struct.Struct("<IBB")
_REPLY_BODY = struct.Struct("<IB")


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to make, once per call
class LinkRequest:
    """An operation on ``connection_id``; ``data`` is a send's message."""

    request_id: int
    operation: int
    connection_id: str
    data: str | bytes | None


def frame(body: bytes) -> bytes:
    """``body`` with its length in front (the handshake's frames)."""
    return _LENGTH.pack(len(body)) + body


def encode_request(request_id: int, operation: int, connection_id: str, payload: bytes) -> bytes:
    """One operation's frame; ``payload`` is a send's message as bytes (text in UTF-8)."""
    cid = connection_id.encode("ascii")
    length = _REQUEST_BODY.size + len(cid) + len(payload)
    return _REQUEST.pack(length, request_id, operation, len(cid)) + cid + payload


def decode_request(body: bytes) -> LinkRequest:
    """Read an operation's frame body (its length already taken off).

    Raises:
        ValueError: not a frame of ``encode_request``'s making.
    """
    if len(body) < _REQUEST_BODY.size:
        raise ValueError("a request shorter than its head")
    request_id, operation, id_length = _REQUEST_BODY.unpack_from(body)
    start = _REQUEST_BODY.size
    if operation not in _OPERATIONS or len(body) < start + id_length:
        raise ValueError("malformed request")
    connection_id = body[start : start + id_length].decode("ascii")
    payload = body[start + id_length :]
    data: str | bytes | None = None
    if operation == SEND_TEXT:
        # surrogatepass: whatever str was posted comes back equal, as in ``wire``.
        data = payload.decode("utf-8", "surrogatepass")
    elif operation == SEND_BINARY:
        data = payload
    return LinkRequest(request_id, operation, connection_id, data)


def reply_head(request_id: int, outcome: int) -> bytes:
    """A reply's frame without a body: every outcome but an ``info`` that succeeded."""
    return _REPLY.pack(_REPLY_BODY.size, request_id, outcome)


def encode_reply(request_id: int, outcome: int, body: bytes) -> bytes:
    """A reply's frame with ``body`` (``encode_info``'s)."""
    return _REPLY.pack(_REPLY_BODY.size + len(body), request_id, outcome) + body


def decode_reply(body: bytes) -> tuple[int, int, bytes]:
    """(request id, outcome, body) of a reply's frame body.

    Raises:
        ValueError: too short to be a reply.
    """
    if len(body) < _REPLY_BODY.size:
        raise ValueError("a reply shorter than its head")
    request_id, outcome = _REPLY_BODY.unpack_from(body)
    return request_id, outcome, body[_REPLY_BODY.size :]


def encode_info(info: ConnectionInfo) -> bytes:
    return orjson.dumps(
        [
            info.connection_id,
            info.connected_at,
            info.last_active_at,
            info.source_ip,
            info.user_agent,
        ]
    )


def decode_info(body: bytes) -> ConnectionInfo:
    """Raises ValueError: not ``encode_info``'s."""
    match orjson.loads(body):
        case [str(cid), int(connected), int(last_active), str(source_ip), str() | None as agent]:
            return ConnectionInfo(cid, connected, last_active, source_ip, agent)
    raise ValueError("malformed info")


class FrameReader:
    """Cuts a byte stream into frame bodies."""

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.limit = limit
        """The longest frame accepted; may be raised once the other end is trusted."""

    def feed(self, data: bytes) -> list[bytes]:
        """The bodies of the frames ``data`` completed, in order.

        Raises:
            ValueError: a frame longer than the limit (the stream cannot be trusted).
        """
        buffer = self._buffer
        buffer += data
        bodies: list[bytes] = []
        start, end = 0, len(buffer)
        unpack = _LENGTH.unpack_from
        while end - start >= 4:
            (length,) = unpack(buffer, start)
            if length > self.limit:
                raise ValueError(f"a frame of {length} bytes is over the link's limit")
            if end - start - 4 < length:
                break
            bodies.append(bytes(buffer[start + 4 : start + 4 + length]))
            start += 4 + length
        if start:
            del buffer[:start]
        return bodies

    @property
    def buffered(self) -> int:
        """Bytes held of a frame not complete yet."""
        return len(self._buffer)

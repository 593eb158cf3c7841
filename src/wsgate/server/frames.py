"""AWS's 32 KB frame limit, enforced on the raw byte stream.

aiohttp limits whole messages but not single frames, so ``FrameGuard`` sits in front of
aiohttp's frame parser: it reads only frame headers, skips payloads without copying them,
and fails the reader with close code 1009 as soon as a data frame declares a payload above
the limit, before that payload is buffered.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError


__all__ = ["FrameGuard", "GuardedWebSocketResponse"]

_CONTROL_OPCODES = frozenset({0x8, 0x9, 0xA})


def _header_size(header: bytearray) -> int:
    """Bytes in a frame header, from its first two bytes (2 until those are known)."""
    if len(header) < 2:
        return 2
    short_length = header[1] & 0x7F
    extended = 2 if short_length == 126 else 8 if short_length == 127 else 0
    return 2 + extended + (4 if header[1] & 0x80 else 0)


class FrameGuard:
    """Wraps a parser with ``feed_data``/``feed_eof``; refuses frames over ``max_frame_bytes``."""

    def __init__(self, parser: Any, queue: Any, max_frame_bytes: int) -> None:
        self._parser = parser
        self._queue = queue
        self._max = max_frame_bytes
        self._skip = 0  # payload bytes of the current frame still to pass
        self._header = bytearray()  # a frame header split across reads
        self._failed = False

    def _oversized(self, data: bytes) -> bool:
        """Walk the frame headers in ``data``; True when a data frame is too large."""
        pos, end = 0, len(data)
        header = self._header
        limit = self._max
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            if not header and end - pos >= 14:
                # The usual case: a whole header in this read, parsed where it lies.
                first, second = data[pos], data[pos + 1]
                length = second & 0x7F
                size = 6 if second & 0x80 else 2
                if length == 126:
                    length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                    size += 2
                elif length == 127:
                    length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                    size += 8
                if length > limit and (first & 0x0F) not in _CONTROL_OPCODES:
                    return True
                pos += size
                self._skip = length
                continue
            # A header split across reads: gather its 2 to 14 bytes first.
            need = _header_size(header)
            while len(header) < need:
                if pos == end:
                    return False
                step = min(need - len(header), end - pos)
                header += data[pos : pos + step]
                pos += step
                need = _header_size(header)
            length = header[1] & 0x7F
            if length == 126:
                length = int.from_bytes(header[2:4], "big")
            elif length == 127:
                length = int.from_bytes(header[2:10], "big")
            if length > limit and (header[0] & 0x0F) not in _CONTROL_OPCODES:
                return True
            header.clear()
            self._skip = length
        return False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        """Check, then hand ``data`` to the wrapped parser unchanged."""
        if self._failed:
            return True, b""
        if not self._skip and not self._header and len(data) > 1:
            # The usual read: exactly one whole frame with a 7-bit length, within the limit.
            length = data[1] & 0x7F
            if (
                length < 126
                and length <= self._max
                and len(data) == length + (6 if data[1] & 0x80 else 2)
            ):
                result: tuple[bool, bytes] = self._parser.feed_data(data)
                return result
        if self._oversized(data):
            self._failed = True
            self._queue.set_exception(
                WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, "Frame size limit exceeded")
            )
            return True, b""
        result = self._parser.feed_data(data)
        return result

    def feed_eof(self) -> None:
        """Pass end-of-stream on."""
        self._parser.feed_eof()


class GuardedWebSocketResponse(web.WebSocketResponse):
    """A WebSocketResponse whose frame parser is wrapped in a ``FrameGuard``."""

    def __init__(self, *, max_frame_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_frame_bytes = max_frame_bytes

    def _post_start(self, request: web.BaseRequest, protocol: Any, writer: Any) -> None:
        handler = request.protocol
        # Bytes that arrived with the upgrade request must go through the guard as well.
        tail: bytes = handler._message_tail
        handler._message_tail = b""
        super()._post_start(request, protocol, writer)
        guard = FrameGuard(handler._payload_parser, self._reader, self._max_frame_bytes)
        handler._payload_parser = guard
        if tail:
            guard.feed_data(tail)

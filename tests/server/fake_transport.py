"""A transport without a socket, for the connection's and the session's tests.

It behaves as asyncio's does where the connection relies on it: written bytes wait in a
buffer until the "client" reads them (``drain``), ``pause_writing`` is called once the
buffer passes the high-water mark and ``resume_writing`` once it drained below the low
one, and ``close`` ends the connection once the buffer is empty.
"""

from __future__ import annotations

import asyncio
from typing import Any


class FakeTransport:
    """Implements ``server.transport.Transport``; the test plays the client."""

    def __init__(self) -> None:
        self.protocol: asyncio.Protocol | None = None
        self.unread = bytearray()
        """What the server wrote and the client has not read yet."""
        self.sent = bytearray()
        """Everything the server wrote, read or not."""
        self.reading = True
        self.closing = False
        self.aborted = False
        self.lost = False
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._writing_paused = False

    def attach(self, protocol: asyncio.Protocol) -> None:
        self.protocol = protocol

    # Transport

    def write(self, data: bytes) -> None:
        assert not self.closing, "write after close"
        self.unread += data
        self.sent += data
        if not self._writing_paused and len(self.unread) > self._high:
            self._writing_paused = True
            assert self.protocol is not None
            self.protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return len(self.unread)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is not None:
            self._high = high
        self._low = low if low is not None else self._high // 4

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        if not self.unread:
            self._lose()

    def abort(self) -> None:
        self.closing = self.aborted = True
        self.unread.clear()
        self._lose()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    # The client's side

    def receive(self, data: bytes) -> None:
        """The client sends ``data``; refused while reading is paused, as TCP would hold it."""
        assert self.reading, "the server is not reading"
        assert self.protocol is not None
        self.protocol.data_received(data)

    def drain(self, size: int | None = None) -> bytes:
        """The client reads ``size`` bytes (all by default) of what the server wrote."""
        size = len(self.unread) if size is None else size
        data = bytes(self.unread[:size])
        del self.unread[:size]
        if self._writing_paused and len(self.unread) <= self._low:
            self._writing_paused = False
            assert self.protocol is not None
            self.protocol.resume_writing()
        if self.closing and not self.unread:
            self._lose()
        return data

    def _lose(self) -> None:
        if not self.lost:
            self.lost = True
            assert self.protocol is not None
            self.protocol.connection_lost(None)

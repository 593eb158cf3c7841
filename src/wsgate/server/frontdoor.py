"""Where every accepted socket starts: upgrades to the API here, all other HTTP to aiohttp.

The front door reads a connection's first request head. A ``GET`` of ``/`` or of one path
segment (``/{stage}``) is a WebSocket handshake and runs ``server.handshake`` in a task of
its own, which then serves the connection. Anything else, the management API above all,
is handed to aiohttp's request handler with the bytes read so far, untouched, and never
comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from wsgate.core.upgrade import (
    MAX_HEAD_BYTES,
    BadRequest,
    RequestHead,
    parse_head,
    path_segment,
    refusal,
    switching_protocols,
)
from wsgate.server.handshake import handshake
from wsgate.server.websocket import WebSocket


if TYPE_CHECKING:
    from wsgate.server.gateway import Gateway


__all__ = ["FrontDoor"]

log = logging.getLogger("wsgate.handshake")

_GET = b"GET "
_END_OF_HEAD = b"\r\n\r\n"
# Bytes a client may send behind its upgrade request before the 101 (its first frames).
_MAX_EARLY = 256 * 1024


class FrontDoor(asyncio.Protocol):
    """A new connection's protocol until its first request says where it goes."""

    __slots__ = (
        "_buffer",
        "_early",
        "_gateway",
        "_http",
        "_paused",
        "_started",
        "_timer",
        "lost",
        "scheme",
        "transport",
    )

    def __init__(self, gateway: Gateway, http: Callable[[], asyncio.Protocol], scheme: str) -> None:
        self._gateway = gateway
        self._http = http
        self.scheme = scheme
        self._buffer = b""
        self._early = b""
        self._started = False
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self.lost = False
        """The client went away before the connection was upgraded."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        # Bounds how long a client may take to send its upgrade request.
        self._timer = asyncio.get_running_loop().call_later(
            self._gateway.config.api.handshake_timeout, transport.close
        )

    def data_received(self, data: bytes) -> None:
        if self._started:
            # The handshake is under way; frames sent before the 101 wait for the session.
            self._early += data
            if len(self._early) > _MAX_EARLY and not self._paused:
                self._paused = True
                self.transport.pause_reading()
            return
        buffer = self._buffer + data if self._buffer else data
        if not buffer.startswith(_GET):
            if len(buffer) < len(_GET) and _GET.startswith(buffer):
                self._buffer = buffer  # too little to tell yet
                return
            self._to_http(buffer)
            return
        end = buffer.find(_END_OF_HEAD)
        if end < 0 and len(buffer) <= MAX_HEAD_BYTES:
            self._buffer = buffer
            return
        if end < 0 or end > MAX_HEAD_BYTES:
            self.refuse(431)
            return
        try:
            head = parse_head(buffer[:end])
        except BadRequest as exc:
            log.info("bad upgrade request: %s", exc)
            self.refuse(400)
            return
        segment = path_segment(head.path)
        if segment is None:
            self._to_http(buffer)
            return
        self._started = True
        self._buffer = b""
        self._early = buffer[end + len(_END_OF_HEAD) :]
        self._stop_timer()
        self._start_handshake(head, segment)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_handshake(self, head: RequestHead, segment: str) -> None:
        gateway = self._gateway
        task = asyncio.get_running_loop().create_task(handshake(gateway, self, head, segment))
        gateway.connection_tasks.add(task)
        task.add_done_callback(gateway.connection_tasks.discard)

    def _to_http(self, received: bytes) -> None:
        """Hand the connection to aiohttp, with what it sent so far."""
        self._stop_timer()
        protocol = self._http()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(received)

    # For the handshake

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address and the local port it connected to."""
        transport = self.transport
        peername = transport.get_extra_info("peername")
        sockname = transport.get_extra_info("sockname")
        host = str(peername[0]) if peername else ""
        port = int(sockname[1]) if sockname else 0
        return host, port

    def refuse(self, status: int) -> None:
        """Answer with ``status`` and AWS's JSON message, then close the connection."""
        self._stop_timer()
        if not self.lost:
            self.transport.write(refusal(status))
            self.transport.close()

    def upgrade(
        self, key: str, subprotocol: str | None, max_frame_bytes: int, max_message_bytes: int
    ) -> WebSocket | None:
        """Send the 101 and turn the connection into a WebSocket; None if the client left."""
        if self.lost or self.transport.is_closing():
            return None
        transport = self.transport
        transport.write(switching_protocols(key, subprotocol))
        websocket = WebSocket(transport, max_frame_bytes, max_message_bytes)
        transport.set_protocol(websocket)
        if self._paused:
            self._paused = False
            transport.resume_reading()
        early, self._early = self._early, b""
        websocket.feed_early(early)
        return websocket

"""An established connection as the registry sees it: describe it, send to it, close it.

The session is the ``LocalConnection`` the registry hands management calls to. Its
messages are routed by ``server.dispatch`` and its life (timers, reading, ``$disconnect``)
is kept by ``server.lifecycle``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Final, NamedTuple

from wsgate.core.events import MessageEvents
from wsgate.core.frames import CloseCode, encode_message
from wsgate.core.protocol import ConnectionClosed
from wsgate.core.request import ConnectionContext
from wsgate.exceptions import BufferFull, Gone
from wsgate.registry.base import ConnectionInfo
from wsgate.server.connection import CLOSE_TIMEOUT, MAX_BUFFERED, WebSocketConnection


__all__ = ["ABNORMAL", "BINARY_REFUSED", "CLOSED_BY_API", "GOING_AWAY", "NO_STATUS", "TOO_BIG"]
__all__ += ["CloseReason", "Session"]

log = logging.getLogger("wsgate.session")


class CloseReason(NamedTuple):
    """Why a connection ends, as ``$disconnect`` reports it (and the close frame says)."""

    code: int
    reason: str


# As AWS reports them to $disconnect.
CLOSED_BY_API: Final = CloseReason(CloseCode.NORMAL_CLOSURE, "Connection Closed Normally")
GOING_AWAY: Final = CloseReason(CloseCode.GOING_AWAY, "Going away")
NO_STATUS: Final = CloseReason(CloseCode.NO_STATUS_RCVD, "Client-side close frame status not set")
ABNORMAL: Final = CloseReason(CloseCode.ABNORMAL_CLOSURE, "")
BINARY_REFUSED: Final = CloseReason(CloseCode.UNSUPPORTED_DATA, "Binary frames are not supported")
TOO_BIG: Final = CloseReason(CloseCode.MESSAGE_TOO_BIG, "Message too big")

# Guards every session's count of bytes queued by other threads (``send_threadsafe``): a
# handler thread adds, the loop subtracts. One lock for all, held for an addition.
_queued_lock = threading.Lock()


class Session:
    """An established connection owned by this process."""

    __slots__ = (
        "_last_active",
        "_loop",
        "_opened",
        "_queued",
        "closing",
        "context",
        "events",
        "ws",
    )

    def __init__(self, ws: WebSocketConnection, context: ConnectionContext) -> None:
        self.ws = ws
        self.context = context
        self._loop = asyncio.get_running_loop()
        # Traffic is timed on the loop's monotonic clock only (one cheap call per frame);
        # lastActiveAt is derived from it when someone asks.
        self._opened = self._loop.time()
        self._last_active = self._opened
        self.closing: CloseReason | None = None
        """Why the server closes the connection, once it decided to; None until then."""
        self._queued = 0
        """Bytes of frames other threads queued on the loop that are not written yet."""
        self.events: MessageEvents | None = None
        """The builder of this connection's MESSAGE events, made by the dispatcher."""

    # LocalConnection

    @property
    def connection_id(self) -> str:
        """The connectionId."""
        return self.context.connection_id

    @property
    def gone(self) -> bool:
        """Whether the connection is closing or closed: gone for everyone."""
        return self.closing is not None or not self.ws.open

    def info(self) -> ConnectionInfo:
        """See ``LocalConnection.info``; a connection being closed is already gone."""
        if self.gone:
            raise Gone(self.connection_id)
        context = self.context
        return ConnectionInfo(
            connection_id=context.connection_id,
            connected_at=context.connected_at,
            last_active_at=context.connected_at + int((self._last_active - self._opened) * 1000),
            source_ip=context.source_ip,
            user_agent=context.user_agent,
        )

    async def send(self, data: str | bytes) -> None:
        """See ``LocalConnection.send``."""
        self.write(data)

    def write(self, data: str | bytes) -> None:
        """Write one message to the client now; it never waits, the transport buffers it.

        Raises:
            Gone: the connection is closing or closed.
            BufferFull: the client has not read what it was already sent.
        """
        if self.closing is not None:
            raise Gone(self.connection_id)
        try:
            written = self.ws.send_message(data, self._queued)
        except ConnectionClosed:
            raise Gone(self.connection_id) from None
        if not written:
            raise BufferFull(self.connection_id)
        self.touch()

    def send_threadsafe(self, data: str | bytes) -> bool:
        """See ``LocalConnection.send_threadsafe``.

        A handler thread posting through boto3 would otherwise wait for the loop to wake,
        write and wake it in turn: two thread switches per post. The frame is built here
        and written by the loop in the order it was queued.
        """
        if self.gone:
            return False
        frame = encode_message(data)
        size = len(frame)
        with _queued_lock:
            queued = self._queued + size
            if self.ws.buffered + queued > MAX_BUFFERED:
                return False
            self._queued = queued
        try:
            self._loop.call_soon_threadsafe(self._write_queued, frame)
        except RuntimeError:  # the loop closed meanwhile
            with _queued_lock:
                self._queued -= size
            return False
        return True

    def _write_queued(self, frame: bytes) -> None:
        """Write a frame another thread queued; dropped if the connection closed meanwhile."""
        with _queued_lock:
            self._queued -= len(frame)
        if self.closing is not None or not self.ws.write_frame(frame):
            log.debug("%s: posted message dropped, connection closed", self.connection_id)
            return
        self.touch()

    async def close_by_api(self) -> None:
        """See ``LocalConnection.close_by_api``."""
        if self.gone:
            raise Gone(self.connection_id)
        self.close(CLOSED_BY_API)

    async def close_going_away(self, answer_within: float) -> None:
        """See ``LocalConnection.close_going_away``."""
        if not self.gone:
            self.close(GOING_AWAY, answer_within)

    # For the dispatcher and the lifecycle

    def reply(self, data: str | bytes) -> None:
        """Send to this client; a connection that closed meanwhile is not an error.

        ``write`` without its exceptions, inlined: this runs once per message answered.
        """
        try:
            written = self.closing is None and self.ws.send_message(data, self._queued)
        except ConnectionClosed:
            written = False
        if written:
            self._last_active = self._loop.time()
        elif self.gone:
            log.debug("%s: reply dropped, connection closed", self.connection_id)
        else:
            log.warning("%s: reply dropped, client not reading", self.connection_id)

    @property
    def last_active(self) -> float:
        """When traffic last moved either way, on the loop's clock."""
        return self._last_active

    def touch(self) -> None:
        """Record traffic in either direction: it resets the idle timer and lastActiveAt."""
        self._last_active = self._loop.time()

    def close(self, why: CloseReason, answer_within: float = CLOSE_TIMEOUT) -> None:
        """Start closing with ``why`` unless a close is already under way; the reader
        sees the client's answer (or the socket dropping, ``answer_within`` seconds on)
        and wraps up."""
        if self.gone:
            return
        self.closing = why
        self.ws.start_close(why.code, why.reason, answer_within)

"""One established connection: read frames, route them, reply, and end with ``$disconnect``.

The session is also the ``LocalConnection`` the registry hands management calls to. It owns
the connection's timers (idle, maximum duration) and guarantees ``$disconnect`` runs exactly
once, whoever ends the connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

from wsgate.core.errors import forbidden_frame, internal_error_frame, timeout_frame
from wsgate.core.events import MessageEvents, disconnect_event
from wsgate.core.frames import OPCODE_BINARY, OPCODE_TEXT, encode_frame
from wsgate.core.framing import Binary, Close
from wsgate.core.ids import new_id
from wsgate.core.request import ConnectionContext
from wsgate.core.results import route_reply
from wsgate.core.routing import choose_route
from wsgate.exceptions import BufferFull, Gone, HandlerFailed, IntegrationTimeout
from wsgate.integrations.handler import Done, Waiting
from wsgate.registry.base import ConnectionInfo
from wsgate.server.gateway import Gateway, Route
from wsgate.server.websocket import Failed, WebSocket


__all__ = ["Session"]

log = logging.getLogger("wsgate.session")

# (code, reason) pairs that reach $disconnect, as AWS reports them.
CLOSED_BY_API = (1000, "Connection Closed Normally")
GOING_AWAY = (1001, "Going away")
NO_STATUS = (1005, "Client-side close frame status not set")
ABNORMAL = (1006, "")
BINARY_REFUSED = (1003, "Binary frames are not supported")
TOO_BIG = (1009, "Message too big")

# Messages of one connection handled at once; past this the session stops reading, so a
# client that floods is slowed by TCP instead of growing memory.
MAX_IN_FLIGHT = 64
# Bytes waiting to be written to one client before further sends are refused (BufferFull).
# The transport's high-water mark sits above it, so a send never waits on a slow client.
MAX_BUFFERED = 4 * 1024 * 1024

# Guards every session's count of bytes queued by other threads (``send_threadsafe``): a
# handler thread adds, the loop subtracts. One lock for all, held for an addition.
_queued_lock = threading.Lock()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _frame(data: str | bytes) -> bytes:
    """A text frame for ``str``, a binary frame for ``bytes``."""
    if isinstance(data, str):
        return encode_frame(OPCODE_TEXT, data.encode())
    return encode_frame(OPCODE_BINARY, data)


class Session:
    """An established connection owned by this process."""

    __slots__ = (
        "_conn",
        "_duration_timer",
        "_ended",
        "_ending",
        "_events",
        "_gateway",
        "_idle_timer",
        "_last_active",
        "_loop",
        "_opened",
        "_queued",
        "_reader",
        "_running",
        "_transport",
        "_ws",
    )

    def __init__(
        self,
        gateway: Gateway,
        ws: WebSocket,
        conn: ConnectionContext,
    ):
        self._gateway = gateway
        self._ws = ws
        transport = self._transport = ws.transport
        transport.set_write_buffer_limits(high=2 * MAX_BUFFERED)
        self._conn = conn
        self._events: MessageEvents | None = None
        """Built at the first message: many connections never send one."""
        self._loop = asyncio.get_running_loop()
        # Traffic is timed on the loop's monotonic clock only (one cheap call per frame);
        # lastActiveAt is derived from it when someone asks.
        self._opened = self._loop.time()
        self._last_active = self._opened
        self._ending: tuple[int, str] | None = None
        """Why the server ends the connection, once it decided to; None while open."""
        self._running: set[asyncio.Future[Any]] = set()
        """Handler calls still running elsewhere and tasks finishing waiting handlers: held
        so that tasks are not lost, and counted against flooding."""
        self._idle_timer: asyncio.TimerHandle | None = None
        self._duration_timer: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[bool] | None = None
        """The task reading the connection, once the first one handed the reading on."""
        self._queued = 0
        """Bytes of frames other threads queued on the loop that are not written yet."""
        self._ended: asyncio.Future[None] | None = None
        """Done once the connection is over and ``$disconnect`` ran: what ``run`` waits for
        after it handed the reading on. Made only then."""

    # LocalConnection

    @property
    def _closing(self) -> bool:
        """Whether the connection is being closed or is closed: it is gone for everyone."""
        return self._ending is not None or self._ws.closed

    @property
    def connection_id(self) -> str:
        """The connectionId."""
        return self._conn.connection_id

    def info(self) -> ConnectionInfo:
        """See ``LocalConnection.info``; a connection being closed is already gone."""
        if self._closing:
            raise Gone(self.connection_id)
        conn = self._conn
        return ConnectionInfo(
            connection_id=conn.connection_id,
            connected_at=conn.connected_at,
            last_active_at=conn.connected_at + int((self._last_active - self._opened) * 1000),
            source_ip=conn.source_ip,
            user_agent=conn.user_agent,
        )

    async def send(self, data: str | bytes) -> None:
        """See ``LocalConnection.send``."""
        self._write(data)

    def _write(self, data: str | bytes) -> None:
        """Write one frame to the client now; it never waits, the transport buffers it.

        The frame goes straight to the transport, with no send coroutine: the buffer check
        below is the flow control sends need.

        Raises:
            Gone: the connection is closing or closed.
            BufferFull: the client has not read what it was already sent.
        """
        transport = self._transport
        if self._closing or transport.is_closing():
            raise Gone(self.connection_id)
        frame = _frame(data)
        if transport.get_write_buffer_size() + self._queued + len(frame) > MAX_BUFFERED:
            raise BufferFull(self.connection_id)
        transport.write(frame)
        self._touch()

    def send_threadsafe(self, data: str | bytes) -> bool:
        """See ``LocalConnection.send_threadsafe``.

        A handler thread posting through boto3 would otherwise wait for the loop to wake,
        write and wake it in turn: two thread switches per post. The frame is built here
        and written by the loop in the order it was queued.
        """
        if self._closing:
            return False
        frame = _frame(data)
        size = len(frame)
        with _queued_lock:
            queued = self._queued + size
            if self._transport.get_write_buffer_size() + queued > MAX_BUFFERED:
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
        if self._closing or self._transport.is_closing():
            log.debug("%s: posted message dropped, connection closed", self.connection_id)
            return
        self._transport.write(frame)
        self._touch()

    async def close_by_api(self) -> None:
        """See ``LocalConnection.close_by_api``."""
        if self._closing:
            raise Gone(self.connection_id)
        self._end(CLOSED_BY_API)

    async def close_going_away(self) -> None:
        """See ``LocalConnection.close_going_away``."""
        if not self._closing:
            self._end(GOING_AWAY)

    # The connection's life

    async def run(self) -> None:
        """Serve the connection until it closes and ``$disconnect`` ran.

        Runs in the connection's task, the one that ran the handshake. It reads the
        connection itself until a handler that waits takes it over (see ``_read_loop``);
        then it finishes that handler and waits for the end.
        """
        limits = self._gateway.limits
        loop = self._loop
        self._idle_timer = loop.call_at(self._last_active + limits.idle_timeout, self._on_idle)
        self._duration_timer = loop.call_later(
            limits.max_connection_duration, self._end, GOING_AWAY
        )
        if await self._read():
            return
        if self._ended is None:
            self._ended = loop.create_future()
        await self._ended

    async def _read(self) -> bool:
        """Read until the connection ends and wrap up: True; or until a handler that waits
        took this task over, with another task reading on: False."""
        idle_timer, duration_timer = self._idle_timer, self._duration_timer
        try:
            reason = await self._read_loop()
        except BaseException:
            reason = None
            raise
        finally:
            if reason is not None or self._reader in (None, asyncio.current_task()):
                # The connection ended, or reading failed in the task that was reading.
                if idle_timer is not None:
                    idle_timer.cancel()
                if duration_timer is not None:
                    duration_timer.cancel()
                self._ws.finish()
                await self._gateway.registry.unregister(self.connection_id)
        if reason is None:
            return False
        await self._disconnect(*reason)
        self._over()
        return True

    def _over(self) -> None:
        """Let ``run`` return: the connection is over."""
        if self._ended is None:
            self._ended = self._loop.create_future()
        if not self._ended.done():
            self._ended.set_result(None)

    async def _read_loop(self) -> tuple[int, str] | None:
        """Read until the connection ends; the (code, reason) for ``$disconnect``.

        A handler that waits must be finished by the task it began in, this one, so the
        reading goes on in a new task and this one returns None once the handler is done:
        a task per message only for the messages whose handler waits.
        """
        ws = self._ws
        while True:
            event = await ws.receive()
            if type(event) is str:
                if self._ending is not None:
                    continue  # the server is closing: messages still arriving are dropped
                self._touch()
                if len(self._running) >= MAX_IN_FLIGHT:
                    await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                waiting = self._on_message(event)
                if waiting is not None:
                    self._hand_over_reading()
                    await waiting
                    return None
            elif isinstance(event, Close):
                ws.answer_close(event)
                if self._ending is not None:
                    return self._ending
                if event.code is None:
                    return NO_STATUS
                return (event.code, event.reason)
            elif isinstance(event, Binary):
                if self._ending is None:
                    self._end(BINARY_REFUSED)
                # Read on until the client answers the close frame or the socket drops.
            elif isinstance(event, Failed):
                ws.fail(event)
                if event.code == TOO_BIG[0]:
                    return TOO_BIG
                return self._ending or ABNORMAL
            else:  # the socket closed without a close frame
                return self._ending or ABNORMAL

    def _on_message(self, body: str) -> Coroutine[Any, Any, None] | None:
        """Route one text message and begin its handler; answer now if it finished.

        Returns, for a handler that waits, what finishes it: to be awaited by this task.
        """
        gateway = self._gateway
        request_id = new_id()
        try:
            route_key = choose_route(gateway.selector.select(body), gateway.routes)
            if route_key is None:
                self._reply(forbidden_frame(self.connection_id, request_id))
                return None
            route = gateway.routes[route_key]
            events = self._events
            if events is None:
                events = self._events = MessageEvents(gateway.api, self._conn)
            event = events.build(route_key, body, new_id(), request_id, _now_ms())
            try:
                call = route.handler.start(event, request_id)
            except HandlerFailed as exc:
                self._failed(route_key, request_id, exc)
                return None
            if isinstance(call, Done):
                self._answer(route_key, route, request_id, call.value)
            elif isinstance(call, asyncio.Future):
                self._running.add(call)
                call.add_done_callback(partial(self._answer_later, route_key, route, request_id))
            else:
                return self._finish(route_key, route, request_id, call)
        except Exception:  # a bug here must cost this message, not the connection
            log.exception("%s: message %s failed", self.connection_id, request_id)
        return None

    def _hand_over_reading(self) -> None:
        """Start a new task reading the connection; this one is a handler's from now on."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)  # counted in flight until its handler is done
        reader = self._loop.create_task(self._read())
        self._reader = reader
        reader.add_done_callback(self._reader_done)

    def _reader_done(self, reader: asyncio.Task[bool]) -> None:
        if reader.cancelled() or reader.exception() is not None:
            if not reader.cancelled():
                log.error("%s: reading failed", self.connection_id, exc_info=reader.exception())
            self._over()  # no $disconnect can follow; do not leave run() waiting

    async def _finish(self, route_key: str, route: Route, request_id: str, call: Waiting) -> None:
        """Finish a handler that waits, in the task it began in, and answer it."""
        try:
            try:
                result = await route.handler.finish(call)
            except (IntegrationTimeout, HandlerFailed) as exc:
                self._failed(route_key, request_id, exc)
            else:
                self._answer(route_key, route, request_id, result)
        except Exception:
            log.exception("%s: message %s failed", self.connection_id, request_id)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)

    def _answer_later(
        self, route_key: str, route: Route, request_id: str, call: asyncio.Future[object]
    ) -> None:
        """Answer a handler that ran elsewhere, once its future is done."""
        self._running.discard(call)
        try:
            try:
                result = route.handler.outcome(call)
            except (IntegrationTimeout, HandlerFailed) as exc:
                self._failed(route_key, request_id, exc)
            else:
                self._answer(route_key, route, request_id, result)
        except Exception:
            log.exception("%s: message %s failed", self.connection_id, request_id)

    def _failed(
        self, route_key: str, request_id: str, exc: IntegrationTimeout | HandlerFailed
    ) -> None:
        """Tell the client, in AWS's words, that its message's handler failed."""
        if isinstance(exc, IntegrationTimeout):
            log.warning("route %s: %s", route_key, exc)
            self._reply(timeout_frame(self.connection_id, request_id))
        else:
            log.warning("route %s: %s", route_key, exc, exc_info=exc.error)
            self._reply(internal_error_frame(self.connection_id, request_id))

    def _answer(self, route_key: str, route: Route, request_id: str, result: object) -> None:
        """Send the client what a handler's result means for it, if anything."""
        if not route.response:
            return
        try:
            reply = route_reply(result)
        except ValueError as exc:
            log.warning("route %s: unusable result: %s", route_key, exc)
            self._reply(internal_error_frame(self.connection_id, request_id))
            return
        if reply is not None:
            self._reply(reply)

    def _reply(self, data: str | bytes) -> None:
        """Send to this client; a connection that closed meanwhile is not an error."""
        try:
            self._write(data)
        except Gone:
            log.debug("%s: reply dropped, connection closed", self.connection_id)
        except BufferFull:
            log.warning("%s: reply dropped, client not reading", self.connection_id)

    async def _disconnect(self, code: int, reason: str) -> None:
        """Invoke ``$disconnect``; its result is ignored and its failure only logged."""
        route = self._gateway.routes.get("$disconnect")
        if route is None:
            return
        request_id = new_id()
        event = disconnect_event(self._gateway.api, self._conn, code, reason, request_id, _now_ms())
        try:
            await route.handler.invoke(event, request_id)
        except (HandlerFailed, IntegrationTimeout) as exc:
            log.warning("$disconnect of %s: %s", self.connection_id, exc)

    # Timers and closing

    def _touch(self) -> None:
        """Record traffic in either direction: it resets the idle timer and lastActiveAt."""
        self._last_active = self._loop.time()

    def _on_idle(self) -> None:
        """Close if nothing moved for ``idle_timeout``; else look again when it could have."""
        deadline = self._last_active + self._gateway.limits.idle_timeout
        if self._loop.time() >= deadline:
            self._end(GOING_AWAY)
        else:
            self._idle_timer = self._loop.call_at(deadline, self._on_idle)

    def _end(self, why: tuple[int, str]) -> None:
        """Start closing with ``why`` unless a close is already under way; the read loop
        sees the client's answer (or the socket dropping) and wraps up."""
        if self._closing:
            return
        self._ending = why
        self._ws.start_close(*why)

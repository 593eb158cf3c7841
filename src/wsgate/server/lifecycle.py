"""A connection's life after the 101: timers, reading, and ``$disconnect`` exactly once.

The connection's task (the one that ran its handshake) reads it and routes each message
through the dispatcher. A handler that waits on the loop must be finished by the task it
began in, so then the reading goes on in a new task and the old one finishes that
handler: a task per message only for the messages whose handler waits. Whoever reads
when the connection ends unregisters it and runs ``$disconnect``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from wsgate.core.events import disconnect_event
from wsgate.core.framing import Binary, Close
from wsgate.core.ids import new_id
from wsgate.core.protocol import Failed
from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.server.dispatch import Dispatcher, InFlight
from wsgate.server.gateway import Gateway
from wsgate.server.session import (
    ABNORMAL,
    BINARY_REFUSED,
    GOING_AWAY,
    NO_STATUS,
    TOO_BIG,
    CloseReason,
    Session,
)


__all__ = ["Lifecycle"]

log = logging.getLogger("wsgate.session")


class Lifecycle:
    """Serves one session from its registration to its ``$disconnect``."""

    __slots__ = (
        "_dispatcher",
        "_duration_timer",
        "_ended",
        "_gateway",
        "_idle_timer",
        "_in_flight",
        "_loop",
        "_reader",
        "session",
    )

    def __init__(self, gateway: Gateway, dispatcher: Dispatcher, session: Session) -> None:
        self._gateway = gateway
        self._dispatcher = dispatcher
        self.session = session
        self._loop = asyncio.get_running_loop()
        self._in_flight: InFlight = set()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._duration_timer: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[bool] | None = None
        """The task reading the connection, once the first one handed the reading on."""
        self._ended: asyncio.Future[None] | None = None
        """Done once the connection is over and ``$disconnect`` ran: what ``run`` waits for
        after it handed the reading on. Made only then."""

    async def run(self) -> None:
        """Serve the connection until it closed and ``$disconnect`` ran."""
        limits = self._gateway.limits
        loop, session = self._loop, self.session
        self._idle_timer = loop.call_at(session.last_active + limits.idle_timeout, self._on_idle)
        self._duration_timer = loop.call_later(
            limits.max_connection_duration, session.close, GOING_AWAY
        )
        if await self._read():
            return
        if self._ended is None:
            self._ended = loop.create_future()
        await self._ended

    async def _read(self) -> bool:
        """Read until the connection ends and wrap up: True; or until a handler that waits
        took this task over, with another task reading on: False."""
        try:
            why = await self._read_loop()
        except BaseException:
            why = None
            raise
        finally:
            if why is not None or self._reader in (None, asyncio.current_task()):
                # The connection ended, or reading failed in the task that was reading.
                self._stop_timers()
                self.session.ws.finish()
                await self._gateway.registry.unregister(self.session.connection_id)
        if why is None:
            return False
        await self._disconnect(why)
        self._over()
        return True

    async def _read_loop(self) -> CloseReason | None:
        """Read until the connection ends: why, for ``$disconnect``; None once this task
        was handed a waiting handler to finish."""
        session = self.session
        ws, in_flight = session.ws, self._in_flight
        begin = self._dispatcher.begin
        # Past this many messages of this connection at once it is not read: a client that
        # floods is slowed by TCP, and cannot take every handler thread for itself.
        most = self._gateway.limits.max_in_flight
        while True:
            event = await ws.receive()
            if type(event) is str:
                if session.closing is not None:
                    continue  # the server is closing: messages still arriving are dropped
                session.touch()
                if len(in_flight) >= most:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                waiting = begin(session, event, in_flight)
                if waiting is not None:
                    self._hand_over_reading()
                    await waiting
                    return None
            elif isinstance(event, Close):
                if session.closing is not None:
                    return session.closing  # the client answered the server's close
                if event.code is None:
                    return NO_STATUS
                return CloseReason(event.code, event.reason)
            elif isinstance(event, Binary):
                session.close(BINARY_REFUSED)
                # Read on until the client answers the close frame or the socket drops.
            elif isinstance(event, Failed):
                if event.code == TOO_BIG.code:
                    return TOO_BIG
                return session.closing or ABNORMAL
            else:  # the socket closed without a close frame
                return session.closing or ABNORMAL

    def _hand_over_reading(self) -> None:
        """Start a new task reading the connection; this one is a handler's from now on."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)  # counted in flight until its handler is done
        reader = self._loop.create_task(self._read())
        self._reader = reader
        reader.add_done_callback(self._reader_done)

    def _reader_done(self, reader: asyncio.Task[bool]) -> None:
        if reader.cancelled() or reader.exception() is not None:
            if not reader.cancelled():
                log.error(
                    "%s: reading failed", self.session.connection_id, exc_info=reader.exception()
                )
            self._over()  # no $disconnect can follow; do not leave run() waiting

    def _over(self) -> None:
        """Let ``run`` return: the connection is over."""
        if self._ended is None:
            self._ended = self._loop.create_future()
        if not self._ended.done():
            self._ended.set_result(None)

    async def _disconnect(self, why: CloseReason) -> None:
        """Invoke ``$disconnect``; its result is ignored and its failure only logged."""
        gateway = self._gateway
        route = gateway.routes.get("$disconnect")
        observer = self._dispatcher.observer
        if route is None:
            if observer is not None:
                observer.disconnected(self.session, why, None, None)
            return
        request_id = new_id()
        session = self.session
        event = disconnect_event(
            gateway.api, session.context, why.code, why.reason, request_id, _now_ms()
        )
        started, failure = time.perf_counter(), None
        try:
            await route.handler.invoke(event, request_id)
        except (HandlerFailed, IntegrationTimeout) as exc:
            log.warning("$disconnect of %s: %s", session.connection_id, exc)
            failure = exc
        if observer is not None:
            observer.disconnected(session, why, started, failure)

    # Timers

    def _on_idle(self) -> None:
        """Close if nothing moved for ``idle_timeout``; else look again when it could have."""
        deadline = self.session.last_active + self._gateway.limits.idle_timeout
        if self._loop.time() >= deadline:
            self.session.close(GOING_AWAY)
        else:
            self._idle_timer = self._loop.call_at(deadline, self._on_idle)

    def _stop_timers(self) -> None:
        for timer in (self._idle_timer, self._duration_timer):
            if timer is not None:
                timer.cancel()


def _now_ms() -> int:
    return int(time.time() * 1000)

"""A connection's life after the 101: timers, reading, and ``$disconnect`` exactly once.

The connection's task (the one that ran its handshake) reads it and routes each message
through the dispatcher. A handler that waits on the loop must be finished by the task it
began in, so then the reading goes on in a new task and the old one finishes that
handler: a task per message only for the messages whose handler waits. Whoever reads
when the connection ends unregisters it and runs ``$disconnect``.

The fast lane: when every message route's handler runs on the loop or in the handler
threads, a message that comes while the reading task waits with nothing queued is begun
from ``data_received`` at once, with the reading task made the current task for that
step when a handler may run on the loop (``asyncio.timeout`` and ``TaskGroup`` hold on to
it). Waking the task for it would cost about a tenth of a round trip. A handler that
waits is then handed to the reading task through its queue, which finishes it as above.
The handler threads take the calls begun this way once per turn of the loop
(``HandlerThreads(per_turn=True)``), as when the reading task began them.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Coroutine
from typing import Any, Final

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


class _Handed:
    """Queued for the reading task: a handler begun in the fast lane waits."""

    __slots__ = ()


_HANDED: Final = _Handed()


class Lifecycle:
    """Serves one session from its registration to its ``$disconnect``."""

    __slots__ = (
        "_begin",
        "_context",
        "_dispatcher",
        "_closes_at",
        "_ended",
        "_gateway",
        "_handed",
        "_timer",
        "_in_flight",
        "_loop",
        "_most",
        "_reader",
        "_reading",
        "session",
    )

    def __init__(self, gateway: Gateway, dispatcher: Dispatcher, session: Session) -> None:
        self._gateway = gateway
        self._dispatcher = dispatcher
        self.session = session
        self._loop = asyncio.get_running_loop()
        self._in_flight: InFlight = set()
        self._timer: asyncio.TimerHandle | None = None
        """One timer for both ends a connection can reach on its own: idle too long, or
        open for ``max_connection_duration``; it fires at the nearer one."""
        self._closes_at = 0.0
        self._reader: asyncio.Task[bool] | None = None
        """The task reading the connection, once the first one handed the reading on."""
        self._ended: asyncio.Future[None] | None = None
        """Done once the connection is over and ``$disconnect`` ran: what ``run`` waits for
        after it handed the reading on. Made only then."""
        self._begin = dispatcher.begin
        # Past this many messages of this connection at once it is not read: a client that
        # floods is slowed by TCP, and cannot take every handler thread for itself.
        self._most = gateway.limits.max_in_flight
        self._reading: asyncio.Task[Any] | None = None
        """The task reading the connection now; the fast lane's steps run as it."""
        self._context = contextvars.Context()
        """The reading task's context, which the fast lane's steps run in too."""
        self._handed: Coroutine[Any, Any, None] | None = None
        """What finishes a handler the fast lane began and that waits, until the reading
        task takes it over."""

    async def run(self) -> None:
        """Serve the connection until it closed and ``$disconnect`` ran."""
        limits = self._gateway.limits
        loop, session = self._loop, self.session
        self._closes_at = loop.time() + limits.max_connection_duration
        self._timer = loop.call_at(
            min(session.last_active + limits.idle_timeout, self._closes_at), self._on_timer
        )
        if self._dispatcher.fast_lane:
            self._context = contextvars.copy_context()
            session.ws.on_text = self._take
        if await self._read():
            return
        if self._ended is None:
            self._ended = loop.create_future()
        await self._ended

    async def _read(self) -> bool:
        """Read until the connection ends and wrap up: True; or until a handler that waits
        took this task over, with another task reading on: False."""
        # No await in a finally, and an exception re-raised by name after an await: mypyc
        # (this module is compiled) re-raises the wrong one there (tests/test_compiled.py).
        try:
            why = await self._read_loop()
        except BaseException as error:
            if self._reader in (None, asyncio.current_task()):
                await self._stop_reading()  # reading failed in the task that was reading
            raise error
        if why is not None or self._reader in (None, asyncio.current_task()):
            await self._stop_reading()  # the connection ended
        if why is None:
            return False
        await self._disconnect(why)
        self._over()
        return True

    async def _stop_reading(self) -> None:
        session = self.session
        session.ws.on_text = None
        self._stop_timers()
        session.ws.finish()
        await self._gateway.registry.unregister(session.connection_id)

    async def _read_loop(self) -> CloseReason | None:
        """Read until the connection ends: why, for ``$disconnect``; None once this task
        was handed a waiting handler to finish."""
        session = self.session
        ws, in_flight = session.ws, self._in_flight
        begin, most = self._begin, self._most
        self._reading = asyncio.current_task()
        while True:
            try:
                event = await ws.receive()
            except asyncio.CancelledError as cancelled:
                if self._handed is None:
                    raise cancelled
                # Cancelled between a handler's first step in the fast lane and this task
                # taking it over: the cancellation is the handler's, as if this task had
                # been awaiting it. Asked again, it is delivered at the handler's wait.
                self._recancel(cancelled)
                event = await ws.receive()  # the _HANDED queued: no wait
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
            elif event is _HANDED:
                waiting, self._handed = self._handed, None
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

    def _take(self, body: str) -> object:
        """The fast lane (``WebSocketConnection.on_text``): begin a text message in the
        reading task's name while that task waits; None once taken, else what to queue
        for it (the message itself while too many are in flight)."""
        session = self.session
        if session.closing is not None:
            return None  # the server is closing: messages still arriving are dropped
        task = self._reading
        if len(self._in_flight) >= self._most or task is None:
            return body  # the reading task waits for room, then begins it
        session.touch()
        if self._dispatcher.steps_on_loop:
            loop = self._loop
            _enter_task(loop, task)
            try:
                waiting = self._context.run(self._begin, session, body, self._in_flight)
            finally:
                _leave_task(loop, task)
        else:  # every handler runs in a thread: no task's name to take
            waiting = self._begin(session, body, self._in_flight)
        if waiting is None:
            return None
        self._handed = waiting
        return _HANDED

    @staticmethod
    def _recancel(cancelled: asyncio.CancelledError) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
            task.cancel(*cancelled.args)

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

    def _on_timer(self) -> None:
        """Close once open for ``max_connection_duration``, or once nothing moved for
        ``idle_timeout`` (read anew: a reload may change it); else look again when one of
        them could be due."""
        idle_until = self.session.last_active + self._gateway.limits.idle_timeout
        if self._loop.time() >= min(idle_until, self._closes_at):
            self.session.close(GOING_AWAY)
        else:
            self._timer = self._loop.call_at(min(idle_until, self._closes_at), self._on_timer)

    def _stop_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _now_ms() -> int:
    return int(time.time() * 1000)

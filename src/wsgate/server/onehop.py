"""A handshake's authorizer and ``$connect`` in one trip to the handler threads.

When both are plain ``def`` handlers, the usual path sends the authorizer to a thread,
comes back to the loop to judge its policy, and sends ``$connect`` to a thread again:
two hand-offs each way, the largest cost of such a handshake. Here one thread runs the
authorizer, judges its answer (pure code), builds the ``$connect`` event and runs
``$connect``. The loop keeps each handler's own timeout with one timer: the authorizer's
deadline first, then ``$connect``'s, counted from when it began.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import cast

from wsgate.auth.base import Authorized, Refused
from wsgate.auth.request import RequestAuthorizer
from wsgate.core.events import connect_event
from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest
from wsgate.core.results import ConnectOutcome, interpret_connect_result
from wsgate.exceptions import HandlerFailed
from wsgate.integrations.python import PythonIntegration
from wsgate.integrations.threads import HandlerThreads


__all__ = ["OneHop"]

log = logging.getLogger("wsgate.handshake")

_Result = tuple[Authorized | Refused, object, HandlerFailed | None]


class _Progress:
    """What the thread and the loop share about one handshake, under ``lock``."""

    __slots__ = ("abandoned", "connect_started", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        """The loop gave up (a timeout, or its task was cancelled): run nothing more."""
        self.connect_started: float | None = None
        """When ``$connect`` began, on ``time.monotonic()``."""


class _Deadlines:
    """Cancels the call when the authorizer, then ``$connect``, runs past its timeout.

    The loop only learns that ``$connect`` began by looking: it looks at the authorizer's
    deadline and at least every ``$connect`` timeout before it, so that it never looks
    later than ``$connect``'s own deadline.
    """

    __slots__ = (
        "_authorizer_deadline",
        "_call",
        "_connect_timeout",
        "_loop",
        "_progress",
        "_timer",
        "late",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        call: asyncio.Future[_Result],
        progress: _Progress,
        authorizer_timeout: float,
        connect_timeout: float,
    ) -> None:
        self._loop = loop
        self._call = call
        self._progress = progress
        self._connect_timeout = connect_timeout
        self._authorizer_deadline = time.monotonic() + authorizer_timeout
        self.late: str | None = None
        """Which handler ran past its timeout: ``"authorizer"`` or ``"$connect"``."""
        self._timer = loop.call_later(min(authorizer_timeout, connect_timeout), self._check)

    def _check(self) -> None:
        progress = self._progress
        now = time.monotonic()
        with progress.lock:
            started = progress.connect_started
            if started is None and now >= self._authorizer_deadline:
                progress.abandoned = True  # the thread must not begin $connect now
        if started is None:
            if now >= self._authorizer_deadline:
                self._give_up("authorizer")
                return
            next_look = min(self._authorizer_deadline, now + self._connect_timeout)
        else:
            next_look = started + self._connect_timeout
            if now >= next_look:
                self._give_up("$connect")
                return
        self._timer = self._loop.call_later(next_look - now, self._check)

    def _give_up(self, late: str) -> None:
        self.late = late
        self._progress.abandoned = True
        self._call.cancel()

    def stop(self) -> None:
        self._timer.cancel()


class OneHop:
    """Runs a REQUEST authorizer and ``$connect``, both ``def`` handlers, in one thread."""

    __slots__ = ("_authorize", "_authorizer", "_connect", "_threads")

    def __init__(
        self, authorizer: RequestAuthorizer, connect: PythonIntegration, threads: HandlerThreads
    ) -> None:
        assert self.applies(authorizer, connect)
        self._authorizer = authorizer
        self._authorize = cast(PythonIntegration, authorizer.handler.integration)
        self._connect = connect
        self._threads = threads

    @staticmethod
    def applies(authorizer: object, connect: object) -> bool:
        """Whether both handlers are plain ``def`` Python handlers."""
        return (
            isinstance(authorizer, RequestAuthorizer)
            and isinstance(authorizer.handler.integration, PythonIntegration)
            and authorizer.handler.integration.threaded
            and isinstance(connect, PythonIntegration)
            and connect.threaded
        )

    async def decide(
        self,
        api: ApiContext,
        connection: ConnectionContext,
        request: HandshakeRequest,
        request_ids: tuple[str, str],
    ) -> Refused | ConnectOutcome | int:
        """The authorizer's refusal, ``$connect``'s outcome, or the status its failure
        gives (502 raised, 504 late). Fills ``connection.authorizer`` when allowed."""
        authorizer = self._authorizer
        event = authorizer.event(api, connection, request, request_ids[0])
        if isinstance(event, Refused):
            return event
        progress = _Progress()
        loop = asyncio.get_running_loop()
        call: asyncio.Future[_Result] = self._threads.run(
            loop, self._run, api, connection, request, event, request_ids, progress
        )
        deadlines = _Deadlines(loop, call, progress, self._authorize.timeout, self._connect.timeout)
        try:
            decision, result, error = await call
        except asyncio.CancelledError:
            progress.abandoned = True
            if deadlines.late is None:
                raise  # this task was cancelled, not the handlers
            if deadlines.late == "authorizer":
                log.warning("authorizer timed out after %ss", self._authorize.timeout)
                return Refused(500, "authorizer timed out")
            log.warning("$connect: timed out after %ss", self._connect.timeout)
            return 504
        finally:
            deadlines.stop()
        if isinstance(decision, Refused):
            return decision
        if error is not None:
            log.warning("$connect: %s", error, exc_info=error.error)
            return 502
        return interpret_connect_result(result)

    def _run(
        self,
        api: ApiContext,
        connection: ConnectionContext,
        request: HandshakeRequest,
        event: dict[str, object],
        request_ids: tuple[str, str],
        progress: _Progress,
    ) -> _Result:
        """In a handler thread: authorizer, its judgement, then ``$connect`` if allowed."""
        authorizer = self._authorizer
        started = time.monotonic()
        result: object = None
        error: HandlerFailed | None = None
        try:
            result = self._authorize.call_here(event, request_ids[0])
        except HandlerFailed as exc:
            error = exc
        decision = authorizer.judge(api, result, error, int((time.monotonic() - started) * 1000))
        if isinstance(decision, Refused):
            return decision, None, None
        connection.authorizer = decision.context
        connect = connect_event(api, connection, request, request_ids[1], int(time.time() * 1000))
        with progress.lock:
            if progress.abandoned:
                return Refused(500, "abandoned"), None, None
            progress.connect_started = time.monotonic()
        try:
            return decision, self._connect.call_here(connect, request_ids[1]), None
        except HandlerFailed as exc:
            return decision, None, exc

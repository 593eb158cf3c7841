"""A message's way: route → handler → the reply or AWS's error frame.

One ``Dispatcher`` per gateway serves every connection. A message whose handler finishes
at once is answered before ``begin`` returns; one running elsewhere (a thread, a worker)
is answered from its future's callback; one that waits on the loop is finished by the
coroutine ``begin`` returns, which the reading task awaits (``server.lifecycle``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from wsgate.core.errors import (
    forbidden_frame,
    internal_error_frame,
    throttled_frame,
    timeout_frame,
)
from wsgate.core.events import MessageEvents
from wsgate.core.ids import new_id
from wsgate.core.request import ApiContext
from wsgate.core.results import route_reply
from wsgate.core.routing import RouteSelector, choose_route
from wsgate.core.throttle import TokenBucket
from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.integrations.base import Integration
from wsgate.integrations.handler import Done, Handler, Waiting
from wsgate.integrations.python import PythonIntegration
from wsgate.server.session import Session


if TYPE_CHECKING:
    from wsgate.server.observe import Observer

__all__ = ["Dispatcher", "InFlight", "Route"]

log = logging.getLogger("wsgate.session")

# Routes that no message can select (core.routing.choose_route).
_OPENING_AND_CLOSING = frozenset(("$connect", "$disconnect"))

InFlight = set["asyncio.Future[Any]"]
"""A connection's handler calls still running elsewhere and the tasks finishing waiting
handlers: held so that they are not lost, and counted against flooding."""


@dataclass(frozen=True, slots=True)
class Route:
    """A route key's handler and whether its return value goes back to the client."""

    handler: Handler
    response: bool
    throttle: TokenBucket | None = None
    """The route's token bucket (``api.throttle`` and its own); None: not throttled."""


class Dispatcher:
    """Routes the messages of every connection of one API."""

    __slots__ = (
        "_api",
        "_max_reply",
        "_routes",
        "_safe_reply",
        "_selector",
        "fast_lane",
        "observer",
        "steps_on_loop",
    )

    def __init__(
        self,
        api: ApiContext,
        selector: RouteSelector,
        routes: dict[str, Route],
        max_reply_bytes: int,
    ) -> None:
        self._api = api
        self.observer: Observer | None = None
        """Metrics and access log (``server.observe``), set at start when configured."""
        self.set_routes(selector, routes, max_reply_bytes)

    def set_api(self, api: ApiContext) -> None:
        """Use ``api`` for the events of messages from now on (its ``domainName`` is known
        once the listeners are bound)."""
        self._api = api

    def set_routes(
        self, selector: RouteSelector, routes: dict[str, Route], max_reply_bytes: int
    ) -> None:
        """Route messages from now on with ``selector`` and ``routes`` (at start, and at a
        reload); a message already begun is answered through the route it took."""
        self._selector = selector
        self._routes = routes
        self._max_reply = max_reply_bytes
        """The largest two-way reply sent, as the largest message accepted (AWS: 128 KB)."""
        self._safe_reply = max_reply_bytes // 4
        """Characters below which a str reply fits whatever they are (UTF-8: 4 bytes at most)."""
        integrations = [
            route.handler.integration
            for key, route in routes.items()
            if key not in _OPENING_AND_CLOSING
        ]
        self.fast_lane = all(_begins_on_loop(integration) for integration in integrations)
        """Whether messages of connections opened from now on may be begun straight from
        ``data_received`` (``server.lifecycle``): every message route's handler runs on
        the loop (``async def``, in this process) or in this process's handler threads,
        which take the calls of a turn of the loop together after it. Functions in worker
        processes are begun by the reading task."""
        self.steps_on_loop = any(
            getattr(integration, "threaded", True) is False for integration in integrations
        )
        """Whether some message route's handler runs on the loop: a message begun from
        ``data_received`` is then begun in the reading task's name, which the handler's
        first step runs as. Handlers in threads need no task."""

    def begin(
        self, session: Session, body: str, in_flight: InFlight
    ) -> Coroutine[Any, Any, None] | None:
        """Route one text message and begin its handler; answer now if it finished.

        Returns, for a handler that waits on the loop, what finishes it: to be awaited by
        the calling task, the one the handler began in.
        """
        request_id = new_id()
        observer = self.observer
        try:
            route_key = choose_route(self._selector.select(body), self._routes)
            started = (
                0.0 if observer is None else observer.received(session, request_id, route_key, body)
            )
            if route_key is None:
                session.reply(forbidden_frame(session.connection_id, request_id))
                return None
            route = self._routes[route_key]
            throttle = route.throttle
            if throttle is not None and not throttle.take(time.monotonic()):
                session.reply(throttled_frame(session.connection_id, request_id))
                if observer is not None:
                    observer.throttled(session, request_id, route_key)
                return None
            events = session.events
            if events is None:  # built at the first message: many connections send none
                events = session.events = MessageEvents(self._api, session.context)
            now_ms = int(time.time() * 1000)  # epoch ms
            event = events.build(route_key, body, new_id(), request_id, now_ms)
            try:
                call = route.handler.start(event, request_id)
            except HandlerFailed as exc:
                self._failed(session, route_key, request_id, exc)
                if observer is not None:
                    observer.handled(session, request_id, route_key, started, None, exc)
                return None
            if type(call) is Done:  # a final class: the cheaper test
                unusable = self._answer(session, route_key, route, request_id, call.value)
                if observer is not None:
                    observer.handled(session, request_id, route_key, started, call.value, unusable)
            elif type(call) is Waiting:
                return self._finish(session, route_key, route, request_id, call, in_flight, started)
            else:
                in_flight.add(call)
                call.add_done_callback(
                    _AnswerLater(self, session, route_key, route, request_id, in_flight, started)
                )
        except Exception:  # a bug here must cost this message, not the connection
            log.exception("%s: message %s failed", session.connection_id, request_id)
        return None

    async def _finish(
        self,
        session: Session,
        route_key: str,
        route: Route,
        request_id: str,
        call: Waiting,
        in_flight: InFlight,
        started: float,
    ) -> None:
        """Finish a handler that waits, in the task it began in, and answer it."""
        failure: IntegrationTimeout | HandlerFailed | None = None
        try:
            result = await route.handler.finish(call)
        except (IntegrationTimeout, HandlerFailed) as exc:
            result, failure = None, exc
        except Exception:  # a bug: it costs this message, not the task reading on
            log.exception("%s: message %s failed", session.connection_id, request_id)
            return
        finally:
            task = asyncio.current_task()
            if task is not None:
                in_flight.discard(task)
        self._settle(session, route_key, route, request_id, result, failure, started)

    def _answer_later(
        self,
        session: Session,
        route_key: str,
        route: Route,
        request_id: str,
        in_flight: InFlight,
        started: float,
        call: asyncio.Future[object],
    ) -> None:
        """Answer a handler that ran elsewhere, once its future is done."""
        in_flight.discard(call)
        failure: IntegrationTimeout | HandlerFailed | None = None
        try:
            result = route.handler.outcome(call)
        except (IntegrationTimeout, HandlerFailed) as exc:
            result, failure = None, exc
        self._settle(session, route_key, route, request_id, result, failure, started)

    def _settle(
        self,
        session: Session,
        route_key: str,
        route: Route,
        request_id: str,
        result: object,
        failure: IntegrationTimeout | HandlerFailed | None,
        started: float,
    ) -> None:
        """Answer a handler that finished later: its result, or AWS's error frame."""
        try:
            outcome: IntegrationTimeout | HandlerFailed | str | None = failure
            if failure is not None:
                self._failed(session, route_key, request_id, failure)
            else:
                outcome = self._answer(session, route_key, route, request_id, result)
            if self.observer is not None:
                self.observer.handled(session, request_id, route_key, started, result, outcome)
        except Exception:  # a bug here must cost this message, not the connection
            log.exception("%s: message %s failed", session.connection_id, request_id)

    @staticmethod
    def _failed(
        session: Session, route_key: str, request_id: str, exc: IntegrationTimeout | HandlerFailed
    ) -> None:
        """Tell the client, in AWS's words, that its message's handler failed."""
        if isinstance(exc, IntegrationTimeout):
            log.warning("route %s: %s", route_key, exc)
            session.reply(timeout_frame(session.connection_id, request_id))
        else:
            log.warning("route %s: %s", route_key, exc, exc_info=exc.error)
            session.reply(internal_error_frame(session.connection_id, request_id))

    def _answer(
        self, session: Session, route_key: str, route: Route, request_id: str, result: object
    ) -> str | None:
        """Send the client what a handler's result means for it, if anything; why it got
        AWS's internal error instead, if it did."""
        if not route.response:
            return None
        try:
            reply = route_reply(result)
        except ValueError as exc:
            log.warning("route %s: unusable result: %s", route_key, exc)
            session.reply(internal_error_frame(session.connection_id, request_id))
            return f"unusable result: {exc}"
        if reply is None:
            return None
        # Only a long reply needs encoding to know its size.
        if len(reply) > self._safe_reply and _size(reply) > self._max_reply:
            log.warning(
                "route %s: reply of %d bytes is over the %d-byte message limit",
                route_key,
                _size(reply),
                self._max_reply,
            )
            session.reply(internal_error_frame(session.connection_id, request_id))
            return "reply over the message limit"
        if self.observer is not None:
            self.observer.sent(route_key, reply)
        session.reply(reply)
        return None


@final
class _AnswerLater:
    """A future's done callback: answers a handler that ran elsewhere (one object where a
    ``functools.partial`` of a bound method made three)."""

    __slots__ = (
        "dispatcher",
        "in_flight",
        "request_id",
        "route",
        "route_key",
        "session",
        "started",
    )

    def __init__(
        self,
        dispatcher: Dispatcher,
        session: Session,
        route_key: str,
        route: Route,
        request_id: str,
        in_flight: InFlight,
        started: float,
    ) -> None:
        self.dispatcher = dispatcher
        self.session = session
        self.route_key = route_key
        self.route = route
        self.request_id = request_id
        self.in_flight = in_flight
        self.started = started

    def __call__(self, call: asyncio.Future[object]) -> None:
        self.dispatcher._answer_later(
            self.session,
            self.route_key,
            self.route,
            self.request_id,
            self.in_flight,
            self.started,
            call,
        )


def _begins_on_loop(integration: Integration) -> bool:
    """Whether ``integration``'s calls may be begun straight from ``data_received``: its
    handler runs on the loop, or it hands the calls of a turn of the loop to the threads
    together, after that turn (``HandlerThreads(per_turn=True)``)."""
    if getattr(integration, "threaded", True) is False:
        return True
    return isinstance(integration, PythonIntegration) and integration.per_turn


def _size(reply: str | bytes) -> int:
    return len(reply.encode()) if isinstance(reply, str) else len(reply)

"""What the gateway tells its metrics and its access log, in one object per gateway.

The server's hooks call an ``Observer`` only when one is set (``Dispatcher.observer``):
with neither ``admin.listen`` nor ``admin.access_log`` there is none, and a message
costs one attribute read. With one, a message costs a few int increments on the loop
(``observe.metrics``: no lock, no label lookup) and, with the access log on, one
``isEnabledFor`` unless a line is written.

How each CloudWatch metric is counted (CONTRACT-RUNTIME.md §7.1):

- ``ConnectCount``: a handshake the authorizer allowed, sent to the ``$connect`` route.
- ``MessageCount``: a message received (its route, or ``-`` when none took it), a two-way
  reply sent (its route), a management POST delivered (``@connections``).
- ``ClientError``: an authorizer's 401/403 (``$connect``); a message no route took (``-``).
- ``ExecutionError``: a handler (or authorizer) that raised, timed out, or returned what
  cannot be sent.
- ``IntegrationError``: ``$connect`` answering a status of 400 or more; a message handler
  returning a ``statusCode`` of 400 or more.
- ``IntegrationLatency``: from the handler's call to its answer, in ms.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from wsgate.auth.base import Refused
from wsgate.core.ids import new_id
from wsgate.core.management import ConnectionPath, parse_management_path
from wsgate.core.results import ConnectOutcome
from wsgate.exceptions import IntegrationTimeout
from wsgate.server.observe.access_log import AccessLog, request_time
from wsgate.server.observe.labels import UNROUTED


if TYPE_CHECKING:
    from wsgate.core.request import ApiContext, ConnectionContext
    from wsgate.exceptions import HandlerFailed
    from wsgate.server.observe.metrics import Metrics, RouteStats
    from wsgate.server.session import CloseReason, Session


__all__ = ["Observer"]

_perf = time.perf_counter


def _size(data: str | bytes) -> int:
    """Bytes on the wire of a payload; ``isascii`` is O(1) for a str in CPython."""
    if isinstance(data, bytes):
        return len(data)
    return len(data) if data.isascii() else len(data.encode())


def _status_code(result: object) -> int | None:
    """A handler's ``statusCode``, when it returned one."""
    if type(result) is dict:
        code = result.get("statusCode")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
        if isinstance(code, str) and code.isdigit():
            return int(code)
    return None


class Observer:
    """The metrics and the access log of one gateway; either may be off."""

    __slots__ = ("_api", "_log", "_routes", "metrics")

    def __init__(self, api: ApiContext, metrics: Metrics | None, access: AccessLog | None):
        self._api = api
        self.metrics = metrics
        self._log = access
        self._routes: dict[str, RouteStats] = metrics.routes if metrics is not None else {}

    def set_api(self, api: ApiContext) -> None:
        """The API as its listeners made it (``domainName``)."""
        self._api = api

    # Messages: the hot path

    def received(
        self, session: Session, request_id: str, route_key: str | None, body: str
    ) -> float:
        """A message arrived and took ``route_key`` (None: no route); when, for latency."""
        metrics = self.metrics
        if metrics is not None:
            stats = metrics.routes[UNROUTED if route_key is None else route_key]
            stats.messages += 1
            metrics.bytes_in += len(body) if body.isascii() else len(body.encode())
            if route_key is None:
                stats.client_errors += 1
        started = _perf()
        if route_key is None and self._log is not None and self._log.enabled():
            self._message_line(session, request_id, UNROUTED, 403, 0.0, "Forbidden")
        return started

    def handled(
        self,
        session: Session,
        request_id: str,
        route_key: str,
        started: float,
        result: object,
        failure: IntegrationTimeout | HandlerFailed | str | None,
    ) -> None:
        """A message's handler answered (or failed)."""
        latency = (_perf() - started) * 1000
        status = 200
        route = self._routes.get(route_key)
        if failure is not None:
            status = 504 if isinstance(failure, IntegrationTimeout) else 500
            if route is not None:
                route.execution_errors += 1
        elif type(result) is dict:
            code = _status_code(result)
            if code is not None:
                status = code
                if code >= 400 and route is not None:
                    route.integration_errors += 1
        if route is not None:
            route.observe(latency)
        access = self._log
        if access is not None and access.enabled():
            error = None if failure is None else str(failure)
            self._message_line(session, request_id, route_key, status, latency, error)

    def throttled(self, session: Session, request_id: str, route_key: str) -> None:
        """A message was over its route's throttle and got the 429 frame."""
        route = self._routes.get(route_key)
        if route is not None:
            route.client_errors += 1
        if self._log is not None and self._log.enabled():
            self._message_line(session, request_id, route_key, 429, 0.0, "Too Many Requests")

    def sent(self, route_key: str, reply: str | bytes) -> None:
        """A two-way reply went to the client."""
        metrics = self.metrics
        if metrics is not None:
            metrics.routes[route_key].messages += 1
            metrics.bytes_out += _size(reply)

    # A connection's opening and end

    def connected(
        self,
        connection: ConnectionContext,
        outcome: Refused | ConnectOutcome | int | None,
        started: float,
    ) -> None:
        """The authorizer and ``$connect`` decided (``handshake._decide``'s outcome)."""
        latency = (_perf() - started) * 1000
        status, error = 200, None
        metrics = self.metrics
        route = self._routes.get("$connect")
        if isinstance(outcome, Refused):
            status, error = outcome.status, outcome.reason
            if route is not None and status < 500:
                route.client_errors += 1
            elif route is not None:
                route.execution_errors += 1
        elif outcome is not None:  # $connect was called
            if route is not None:
                route.connects += 1
                route.observe(latency)
            if isinstance(outcome, int):  # it raised (502) or was late (504)
                status, error = outcome, "$connect failed"
                if route is not None:
                    route.execution_errors += 1
            elif not 200 <= outcome.status < 300:
                status = outcome.status
                if route is not None:
                    route.integration_errors += 1
        if metrics is not None and status != 200:
            metrics.handshake(status)
        access = self._log
        if access is not None and access.enabled():
            fields = self._fields(
                new_id(), "CONNECT", "$connect", connection, status, latency, error
            )
            access.write(fields)

    def connect_throttled(self, connection: ConnectionContext) -> None:
        """An upgrade was over ``$connect``'s throttle: 429 before the authorizer ran."""
        route = self._routes.get("$connect")
        if route is not None:
            route.client_errors += 1
        if self.metrics is not None:
            self.metrics.handshake(429)
        access = self._log
        if access is not None and access.enabled():
            fields = self._fields(
                new_id(), "CONNECT", "$connect", connection, 429, 0.0, "Too Many Requests"
            )
            access.write(fields)

    def refused(self, status: int) -> None:
        """A handshake refused before the authorizer: a wrong stage, a draining gateway, a
        malformed upgrade, a connection limit; no route saw it, so only its status counts."""
        if self.metrics is not None:
            self.metrics.handshake(status)

    def upgraded(self) -> None:
        """A handshake ended in its 101."""
        if self.metrics is not None:
            self.metrics.handshake(101)

    def disconnected(
        self,
        session: Session,
        why: CloseReason,
        started: float | None,
        failure: IntegrationTimeout | HandlerFailed | None,
    ) -> None:
        """``$disconnect`` ran (``started`` None: there is no such route)."""
        latency = None if started is None else (_perf() - started) * 1000
        route = self._routes.get("$disconnect")
        status = 200
        if failure is not None:
            status = 504 if isinstance(failure, IntegrationTimeout) else 500
            if route is not None:
                route.execution_errors += 1
        if route is not None and latency is not None:
            route.observe(latency)
        access = self._log
        if access is not None and access.enabled():
            fields = self._fields(
                new_id(),
                "DISCONNECT",
                "$disconnect",
                session.context,
                status,
                latency,
                None if failure is None else str(failure),
            )
            fields["disconnectStatusCode"] = why.code
            fields["disconnectReason"] = why.reason
            access.write(fields)

    # The management API

    def managed(
        self, method: str, raw_path: str, reply: tuple[int, Mapping[str, str], bytes], size: int
    ) -> None:
        """A management call was answered with ``reply``; ``size`` is the POST's body."""
        status = reply[0]
        metrics = self.metrics
        if metrics is not None:
            delivered = method == "POST" and status == 200
            metrics.management_call(method, status, size if delivered else None)
        access = self._log
        if access is not None and access.enabled():
            target = parse_management_path(raw_path, self._api.stage)
            now = int(time.time() * 1000)
            error = None
            if status >= 400:
                error = reply[1].get("x-amzn-ErrorType") or str(status)
            access.write(
                {
                    "requestId": reply[1].get("x-amzn-RequestId"),
                    "apiId": self._api.api_id,
                    "stage": self._api.stage,
                    "connectionId": target.connection_id
                    if isinstance(target, ConnectionPath)
                    else None,
                    "eventType": "MANAGEMENT",
                    "routeKey": f"{method} /@connections/{{connectionId}}",
                    "httpMethod": method,
                    "status": status,
                    "requestTime": request_time(now),
                    "requestTimeEpoch": now,
                    "error.message": error,
                }
            )

    # Lines

    def _message_line(
        self,
        session: Session,
        request_id: str,
        route_key: str,
        status: int,
        latency: float,
        error: str | None,
    ) -> None:
        assert self._log is not None
        self._log.write(
            self._fields(request_id, "MESSAGE", route_key, session.context, status, latency, error)
        )

    def _fields(
        self,
        request_id: str,
        event_type: str,
        route_key: str,
        connection: ConnectionContext,
        status: int,
        latency: float | None,
        error: str | None,
    ) -> dict[str, object]:
        """A line's ``$context`` variables. ``requestTime`` is when the request came: now
        less the integration's latency."""
        now = int(time.time() * 1000)
        epoch = now - int(latency or 0)
        api = self._api
        return {
            "requestId": request_id,
            "apiId": api.api_id,
            "stage": api.stage,
            "domainName": api.domain_name,
            "connectionId": connection.connection_id,
            "connectedAt": connection.connected_at,
            "eventType": event_type,
            "routeKey": route_key,
            "status": status,
            "requestTime": request_time(epoch),
            "requestTimeEpoch": epoch,
            "identity.sourceIp": connection.source_ip,
            "identity.userAgent": connection.user_agent,
            "integrationLatency": None if latency is None else round(latency),
            "error.message": error,
        }

"""Lambda proxy events for ``$connect``, MESSAGE, ``$disconnect`` and the authorizer.

Shapes follow CONTRACT §1.1-1.4 and §2.3 key for key, in AWS's key order: absent keys are
omitted, never set to null. Everything is built from the snapshots in ``core.request``
plus the ids and ``now_ms`` the caller passes in.
"""

from __future__ import annotations

import time
from functools import lru_cache

from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest


__all__ = [
    "MessageEvents",
    "authorizer_event",
    "connect_event",
    "disconnect_event",
    "format_request_time",
]

# English abbreviations spelled out: `%b` follows the process locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Not forwarded to the $connect integration (the authorizer still sees them).
_HOP_BY_HOP = frozenset({"connection", "upgrade", "content-length"})
# The client headers each event leaves out, as lower-case names: one lookup per header.
# (The client's X-Forwarded-* never reach them: ``HandshakeRequest`` drops those.)
_DROPPED_FOR_AUTHORIZER: frozenset[str] = frozenset()
_DROPPED_FOR_CONNECT = _HOP_BY_HOP
_TRACE_HEADER = "x-amzn-trace-id"


def format_request_time(epoch_ms: int) -> str:
    """Format epoch milliseconds as CLF in UTC, e.g. ``09/Feb/2024:18:11:43 +0000``."""
    return _format_second(epoch_ms // 1000)


@lru_cache(maxsize=4)
def _format_second(second: int) -> str:
    # Every event of the same second shares one string: handshakes come in bursts.
    t = time.gmtime(second)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _copy_json(value: object) -> object:
    """Copy the dicts and lists of a JSON value; scalars are immutable and shared."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _is_flat(authorizer: dict[str, object]) -> bool:
    """Whether a shallow copy is a full copy (a REQUEST authorizer's context always is)."""
    for value in authorizer.values():
        if isinstance(value, (dict, list)):
            return False
    return True


def _copy_authorizer(authorizer: dict[str, object]) -> dict[str, object]:
    """A copy a handler may change without changing any other event (JWT claims nest)."""
    if _is_flat(authorizer):
        return dict(authorizer)
    return {key: _copy_json(value) for key, value in authorizer.items()}


def _identity(conn: ConnectionContext) -> dict[str, object]:
    identity: dict[str, object] = {"sourceIp": conn.source_ip}
    if conn.user_agent is not None:
        identity["userAgent"] = conn.user_agent
    return identity


def _trace_id(request_id: str, now_ms: int) -> str:
    # AWS's format is Root=1-<epoch seconds, 8 hex>-<96 bits, 24 hex>. The 96 bits are the
    # request id's first 12 characters (72 random bits), so that this module stays
    # deterministic; a hash of it cost five times as much for no more randomness.
    return _trace_prefix(now_ms // 1000) + request_id[:12].encode().hex()


@lru_cache(maxsize=4)
def _trace_prefix(second: int) -> str:
    # Shared by every trace id of the same second, as _format_second is.
    return f"Root=1-{second & 0xFFFFFFFF:08x}-"


def _headers(
    request: HandshakeRequest, request_id: str, now_ms: int, dropped: frozenset[str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The client's headers but ``dropped`` (last value wins in the single map), then the
    gateway's own: ``X-Amzn-Trace-Id`` unless the client sent one, ``X-Forwarded-*``."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    has_trace = False
    # The view ends with the gateway's X-Forwarded-* (``HandshakeRequest``); the client's
    # names come lower-cased beside it.
    headers = request.headers
    for index, lower in enumerate(request.lowered):
        if lower in dropped:
            continue
        if lower == _TRACE_HEADER:
            has_trace = True
        name, value = headers[index]
        if name in single:
            multi[name].append(value)
        else:
            multi[name] = [value]
        single[name] = value
    # None of these names can be in the maps yet (the client's are dropped, or the trace
    # header is absent), so each lands at the end, in AWS's order.
    if not has_trace:
        trace = _trace_id(request_id, now_ms)
        single["X-Amzn-Trace-Id"] = trace
        multi["X-Amzn-Trace-Id"] = [trace]
    for name, value in headers[-3:]:
        single[name] = value
        multi[name] = [value]
    return single, multi


def _query(request: HandshakeRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Query maps; for a repeated name the single-value map keeps the last value."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in request.query:
        single[name] = value
        values = multi.get(name)
        if values is None:
            multi[name] = [value]
        else:
            values.append(value)
    return single, multi


def _connect_request_context(
    api: ApiContext, conn: ConnectionContext, request_id: str, now_ms: int
) -> dict[str, object]:
    return {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "extendedRequestId": request_id,
        "requestTime": format_request_time(now_ms),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": conn.connected_at,
        "requestTimeEpoch": now_ms,
        "identity": _identity(conn),
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }


def authorizer_event(
    api: ApiContext,
    conn: ConnectionContext,
    request: HandshakeRequest,
    request_id: str,
    now_ms: int,
) -> dict[str, object]:
    """Build the REQUEST authorizer's event (CONTRACT §2.3).

    Headers are all of the client's, hop-by-hop ones included; the query maps are ``{}``
    when there is no query string; ``stageVariables`` is ``{}``; the ``requestContext`` is
    the CONNECT one without ``authorizer``.
    """
    headers, multi_headers = _headers(request, request_id, now_ms, _DROPPED_FOR_AUTHORIZER)
    query, multi_query = _query(request)
    return {
        "type": "REQUEST",
        "methodArn": api.connect_method_arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": _connect_request_context(api, conn, request_id, now_ms),
    }


def connect_event(
    api: ApiContext,
    conn: ConnectionContext,
    request: HandshakeRequest,
    request_id: str,
    now_ms: int,
) -> dict[str, object]:
    """Build the ``$connect`` integration's event (CONTRACT §1.1-1.4).

    ``Connection``, ``Upgrade`` and ``Content-Length`` are left out; the query maps are
    present only when the URL had a ``?``; ``requestContext.authorizer`` only when the
    connection went through an authorizer.
    """
    headers, multi_headers = _headers(request, request_id, now_ms, _DROPPED_FOR_CONNECT)
    event: dict[str, object] = {"headers": headers, "multiValueHeaders": multi_headers}
    if request.has_query:
        query, multi_query = _query(request)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    context = _connect_request_context(api, conn, request_id, now_ms)
    if conn.authorizer is not None:
        context["authorizer"] = _copy_authorizer(conn.authorizer)
    event["requestContext"] = context
    event["isBase64Encoded"] = False
    return event


class MessageEvents:
    """Builds the MESSAGE events of one connection; create it once the connection is open.

    Everything constant per connection is computed here; ``build`` copies a template
    ``requestContext`` and fills the per-message fields. Nested dicts (``identity``,
    ``authorizer`` and, for a JWT authorizer, the claims inside it) are copied too, so a
    handler that mutates its event cannot change the next one. A flat authorizer context
    (a REQUEST authorizer's) takes the cheap shallow copy.
    """

    __slots__ = (
        "_authorizer",
        "_authorizer_flat",
        "_base",
        "_identity",
        "_time_second",
        "_time_text",
    )

    def __init__(self, api: ApiContext, conn: ConnectionContext) -> None:
        self._identity = _identity(conn)
        self._authorizer = (
            _copy_authorizer(conn.authorizer) if conn.authorizer is not None else None
        )
        self._authorizer_flat = self._authorizer is None or _is_flat(self._authorizer)
        # Key order as in AWS's captures; the "" and 0 slots are overwritten per message.
        self._base: dict[str, object] = {
            "routeKey": "",
            "messageId": "",
            "eventType": "MESSAGE",
            "extendedRequestId": "",
            "requestTime": "",
            "messageDirection": "IN",
            "stage": api.stage,
            "connectedAt": conn.connected_at,
            "requestTimeEpoch": 0,
            "identity": None,
            "requestId": "",
            "domainName": api.domain_name,
            "connectionId": conn.connection_id,
            "apiId": api.api_id,
        }
        if self._authorizer is not None:
            self._base["authorizer"] = None
        self._time_second = -1
        self._time_text = ""

    def build(
        self, route_key: str, body: str, message_id: str, request_id: str, now_ms: int
    ) -> dict[str, object]:
        """Return the event for one text frame routed to ``route_key``."""
        second = now_ms // 1000
        if second != self._time_second:
            self._time_second = second
            self._time_text = format_request_time(now_ms)
        context = self._base.copy()
        context["routeKey"] = route_key
        context["messageId"] = message_id
        context["extendedRequestId"] = request_id
        context["requestTime"] = self._time_text
        context["requestTimeEpoch"] = now_ms
        context["identity"] = self._identity.copy()
        context["requestId"] = request_id
        if self._authorizer is not None:
            context["authorizer"] = (
                self._authorizer.copy()
                if self._authorizer_flat
                else _copy_authorizer(self._authorizer)
            )
        return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    api: ApiContext,
    conn: ConnectionContext,
    status_code: int,
    reason: str,
    request_id: str,
    now_ms: int,
) -> dict[str, object]:
    """Build the ``$disconnect`` event: AWS's four synthetic headers, the close code and
    reason, no body (CONTRACT §1.3-1.4)."""
    headers = {
        "Host": api.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    context: dict[str, object] = {
        "routeKey": "$disconnect",
        "disconnectStatusCode": status_code,
        "eventType": "DISCONNECT",
        "extendedRequestId": request_id,
        "requestTime": format_request_time(now_ms),
        "messageDirection": "IN",
        "disconnectReason": reason,
        "stage": api.stage,
        "connectedAt": conn.connected_at,
        "requestTimeEpoch": now_ms,
        "identity": _identity(conn),
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }
    if conn.authorizer is not None:
        context["authorizer"] = _copy_authorizer(conn.authorizer)
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }

"""Tests for wsgate.core.events."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.events import (
    MessageEvents,
    authorizer_event,
    connect_event,
    disconnect_event,
    format_request_time,
)
from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest


API = ApiContext(
    api_id="dl7ptocha9",
    stage="prod",
    domain_name="ws.example.com:8443",
    region="us-east-1",
    account_id="123456789012",
)
NOW = 1707502303420  # 09/Feb/2024:18:11:43.420 UTC
CONNECTED_AT = 1707502303419
REQUEST_ID = "R1knPH17NjMFftw="
CONN_ID = "R1kmxc2VNjMCFIA="
HANDSHAKE_HEADERS = (
    ("Host", "ws.example.com:8443"),
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
    ("HeaderAuth1", "one"),
    ("headerauth1", "lower"),
    ("HeaderAuth1", "two"),
    ("User-Agent", "wscat/5"),
)
TRACE_SHAPE = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}")


def make_request(
    headers: tuple[tuple[str, str], ...] = HANDSHAKE_HEADERS,
    query: tuple[tuple[str, str], ...] = (),
    has_query: bool = False,
) -> HandshakeRequest:
    return HandshakeRequest(
        headers=headers,
        query=query,
        has_query=has_query,
        source_ip="192.0.2.1",
        port=8443,
        scheme="https",
    )


def make_conn(
    user_agent: str | None = "wscat/5", authorizer: dict[str, object] | None = None
) -> ConnectionContext:
    return ConnectionContext(CONN_ID, CONNECTED_AT, "192.0.2.1", user_agent, authorizer)


def part(event: dict[str, object], key: str) -> dict[str, Any]:
    """The dict under ``key`` (headers, requestContext, ...), typed for the assertions."""
    value = event[key]
    assert isinstance(value, dict)
    return value


CONNECT_CONTEXT_KEYS = [
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
]


# -- requestTime ----------------------------------------------------------------------------


def test_format_request_time_example() -> None:
    """The CONTRACT sample formats exactly."""
    assert format_request_time(1707502303419) == "09/Feb/2024:18:11:43 +0000"
    assert format_request_time(0) == "01/Jan/1970:00:00:00 +0000"
    assert format_request_time(1705751708326) == "20/Jan/2024:11:55:08 +0000"


@given(st.integers(min_value=0, max_value=253402300799999))
def test_format_request_time_round_trips(epoch_ms: int) -> None:
    """Parsing the text back gives the same second, in UTC."""
    text = format_request_time(epoch_ms)
    parsed = datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
    offset = parsed.utcoffset()
    assert offset is not None and offset.total_seconds() == 0
    assert int(parsed.timestamp()) == epoch_ms // 1000
    assert text == datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


# -- authorizer event -----------------------------------------------------------------------


def test_authorizer_event_exact_shape() -> None:
    """The authorizer event has AWS's keys, all client headers and {} query maps."""
    event = authorizer_event(API, make_conn(), make_request(), REQUEST_ID, NOW)
    assert list(event) == [
        "type",
        "methodArn",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "stageVariables",
        "requestContext",
    ]
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == (
        "arn:aws:execute-api:us-east-1:123456789012:dl7ptocha9/prod/$connect"
    )
    headers = event["headers"]
    assert isinstance(headers, dict)
    trace = headers.pop("X-Amzn-Trace-Id")
    assert TRACE_SHAPE.fullmatch(trace)
    assert trace.startswith(f"Root=1-{NOW // 1000:08x}-")
    assert headers == {
        "Host": "ws.example.com:8443",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "HeaderAuth1": "two",
        "headerauth1": "lower",
        "User-Agent": "wscat/5",
        "X-Forwarded-For": "192.0.2.1",
        "X-Forwarded-Port": "8443",
        "X-Forwarded-Proto": "https",
    }
    multi = event["multiValueHeaders"]
    assert isinstance(multi, dict)
    assert multi["HeaderAuth1"] == ["one", "two"]
    assert multi["Connection"] == ["Upgrade"]
    assert multi["X-Amzn-Trace-Id"] == [trace]
    assert event["queryStringParameters"] == {}
    assert event["multiValueQueryStringParameters"] == {}
    assert event["stageVariables"] == {}
    assert event["requestContext"] == {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "extendedRequestId": REQUEST_ID,
        "requestTime": "09/Feb/2024:18:11:43 +0000",
        "messageDirection": "IN",
        "stage": "prod",
        "connectedAt": CONNECTED_AT,
        "requestTimeEpoch": NOW,
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "wscat/5"},
        "requestId": REQUEST_ID,
        "domainName": "ws.example.com:8443",
        "connectionId": CONN_ID,
        "apiId": "dl7ptocha9",
    }


def test_authorizer_event_never_has_authorizer() -> None:
    """Even a connection that already has authorizer data does not show it to the authorizer."""
    event = authorizer_event(
        API, make_conn(authorizer={"principalId": "u"}), make_request(), REQUEST_ID, NOW
    )
    context = event["requestContext"]
    assert isinstance(context, dict)
    assert list(context) == CONNECT_CONTEXT_KEYS


def test_authorizer_event_query_maps() -> None:
    """With a query the authorizer sees both maps; the single map keeps the last value."""
    request = make_request(query=(("name", "bob"), ("tag", "a"), ("tag", "b")), has_query=True)
    event = authorizer_event(API, make_conn(), request, REQUEST_ID, NOW)
    assert event["queryStringParameters"] == {"name": "bob", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"name": ["bob"], "tag": ["a", "b"]}


# -- connect event --------------------------------------------------------------------------


def test_connect_event_without_query_omits_query_keys() -> None:
    """No query string: no queryStringParameters key at all (not null, not {})."""
    event = connect_event(API, make_conn(), make_request(), REQUEST_ID, NOW)
    assert list(event) == ["headers", "multiValueHeaders", "requestContext", "isBase64Encoded"]
    assert event["isBase64Encoded"] is False
    assert "stageVariables" not in event


def test_connect_event_with_query() -> None:
    """With a query string both maps are present; repeated names keep the last value."""
    request = make_request(query=(("name", "bob"), ("tag", "a"), ("tag", "b")), has_query=True)
    event = connect_event(API, make_conn(), request, REQUEST_ID, NOW)
    assert list(event) == [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "requestContext",
        "isBase64Encoded",
    ]
    assert event["queryStringParameters"] == {"name": "bob", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"name": ["bob"], "tag": ["a", "b"]}


def test_connect_event_with_bare_question_mark() -> None:
    """A URL ending in '?' has a query string, so the maps are present and empty."""
    event = connect_event(API, make_conn(), make_request(has_query=True), REQUEST_ID, NOW)
    assert event["queryStringParameters"] == {}
    assert event["multiValueQueryStringParameters"] == {}


def test_connect_event_drops_hop_by_hop_headers() -> None:
    """Connection, Upgrade and Content-Length (any case) are not forwarded."""
    headers = (*HANDSHAKE_HEADERS, ("content-length", "0"), ("CONNECTION", "x"))
    event = connect_event(API, make_conn(), make_request(headers=headers), REQUEST_ID, NOW)
    for key in ("headers", "multiValueHeaders"):
        names = {name.lower() for name in part(event, key)}
        assert not names & {"connection", "upgrade", "content-length"}
        assert {"host", "sec-websocket-key", "headerauth1", "x-forwarded-for"} <= names


def test_connect_event_headers_end_with_gateway_headers() -> None:
    """The gateway appends X-Amzn-Trace-Id and X-Forwarded-For/Port/Proto, in that order."""
    event = connect_event(API, make_conn(), make_request(), REQUEST_ID, NOW)
    headers = event["headers"]
    assert isinstance(headers, dict)
    assert list(headers)[-4:] == [
        "X-Amzn-Trace-Id",
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "X-Forwarded-Proto",
    ]
    assert headers["X-Forwarded-Port"] == "8443"


def test_client_forwarded_headers_are_replaced() -> None:
    """A client's own X-Forwarded-* headers cannot spoof the gateway's."""
    headers = (("x-forwarded-for", "10.9.9.9"), ("X-Forwarded-Proto", "gopher"), ("Host", "h"))
    event = connect_event(API, make_conn(), make_request(headers=headers), REQUEST_ID, NOW)
    assert event["headers"] == {
        "Host": "h",
        "X-Amzn-Trace-Id": part(event, "headers")["X-Amzn-Trace-Id"],
        "X-Forwarded-For": "192.0.2.1",
        "X-Forwarded-Port": "8443",
        "X-Forwarded-Proto": "https",
    }


def test_client_trace_id_is_kept() -> None:
    """A client-sent X-Amzn-Trace-Id (any case) is kept and no second one is added."""
    headers = (("x-amzn-trace-id", "Root=1-mine"),)
    event = connect_event(API, make_conn(), make_request(headers=headers), REQUEST_ID, NOW)
    names = [name.lower() for name in part(event, "headers")]
    assert names.count("x-amzn-trace-id") == 1
    assert part(event, "headers")["x-amzn-trace-id"] == "Root=1-mine"


def test_trace_id_is_deterministic_per_request_id() -> None:
    """The trace id derives from request id and time only (the module is pure)."""

    def trace(request_id: str) -> str:
        event = connect_event(API, make_conn(), make_request(), request_id, NOW)
        return str(part(event, "headers")["X-Amzn-Trace-Id"])

    assert trace(REQUEST_ID) == trace(REQUEST_ID)
    assert trace(REQUEST_ID) != trace("L0SM9cOFvHcCIhw=")


def test_connect_request_context() -> None:
    """The CONNECT requestContext has AWS's keys in order and no authorizer by default."""
    event = connect_event(API, make_conn(user_agent=None), make_request(), REQUEST_ID, NOW)
    context = event["requestContext"]
    assert isinstance(context, dict)
    assert list(context) == CONNECT_CONTEXT_KEYS
    assert context["identity"] == {"sourceIp": "192.0.2.1"}
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert context["requestTimeEpoch"] == NOW
    assert context["connectedAt"] == CONNECTED_AT


def test_connect_event_carries_authorizer() -> None:
    """With an authorizer result, requestContext.authorizer is added last."""
    authorizer: dict[str, object] = {"principalId": "u", "integrationLatency": 4, "t": "x"}
    event = connect_event(API, make_conn(authorizer=authorizer), make_request(), REQUEST_ID, NOW)
    context = event["requestContext"]
    assert isinstance(context, dict)
    assert list(context) == [*CONNECT_CONTEXT_KEYS, "authorizer"]
    assert context["authorizer"] == authorizer
    assert context["authorizer"] is not authorizer


# -- message events -------------------------------------------------------------------------

MESSAGE_CONTEXT_KEYS = [
    "routeKey",
    "messageId",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
]


def test_message_event_exact_shape() -> None:
    """A MESSAGE event is requestContext, body and isBase64Encoded: no headers."""
    events = MessageEvents(API, make_conn())
    event = events.build(
        "sendmessage", '{"action":"sendmessage"}', "R1knPc2ntjMCFIA=", REQUEST_ID, NOW
    )
    assert event == {
        "requestContext": {
            "routeKey": "sendmessage",
            "messageId": "R1knPc2ntjMCFIA=",
            "eventType": "MESSAGE",
            "extendedRequestId": REQUEST_ID,
            "requestTime": "09/Feb/2024:18:11:43 +0000",
            "messageDirection": "IN",
            "stage": "prod",
            "connectedAt": CONNECTED_AT,
            "requestTimeEpoch": NOW,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "wscat/5"},
            "requestId": REQUEST_ID,
            "domainName": "ws.example.com:8443",
            "connectionId": CONN_ID,
            "apiId": "dl7ptocha9",
        },
        "body": '{"action":"sendmessage"}',
        "isBase64Encoded": False,
    }
    assert list(event) == ["requestContext", "body", "isBase64Encoded"]
    assert list(part(event, "requestContext")) == MESSAGE_CONTEXT_KEYS


def test_message_event_without_user_agent_or_with_authorizer() -> None:
    """identity omits userAgent when absent; authorizer is carried over when present."""
    authorizer: dict[str, object] = {"principalId": "u", "integrationLatency": 4}
    events = MessageEvents(API, make_conn(user_agent=None, authorizer=authorizer))
    context = events.build("$default", "x", "m", "r", NOW)["requestContext"]
    assert isinstance(context, dict)
    assert list(context) == [*MESSAGE_CONTEXT_KEYS, "authorizer"]
    assert context["identity"] == {"sourceIp": "192.0.2.1"}
    assert context["authorizer"] == authorizer


def test_message_request_time_follows_the_clock() -> None:
    """The cached requestTime changes when the second changes, in either direction."""
    events = MessageEvents(API, make_conn())
    for now in (NOW, NOW + 10, NOW + 1000, NOW + 61_000, NOW - 3_600_000, NOW):
        context = part(events.build("r", "b", "m", "q", now), "requestContext")
        assert context["requestTime"] == format_request_time(now)
        assert context["requestTimeEpoch"] == now


def test_message_events_are_independent() -> None:
    """Mutating one event (even nested dicts) does not affect the next."""
    authorizer: dict[str, object] = {"principalId": "u"}
    events = MessageEvents(API, make_conn(authorizer=authorizer))
    first = events.build("a", "1", "m1", "r1", NOW)
    context = first["requestContext"]
    assert isinstance(context, dict)
    context["identity"]["sourceIp"] = "evil"
    context["authorizer"]["principalId"] = "evil"
    context["stage"] = "evil"
    second = events.build("b", "2", "m2", "r2", NOW + 5)["requestContext"]
    assert isinstance(second, dict)
    assert second["identity"] == {"sourceIp": "192.0.2.1", "userAgent": "wscat/5"}
    assert second["authorizer"] == {"principalId": "u"}
    assert second["stage"] == "prod"
    assert (second["routeKey"], second["messageId"], second["requestId"]) == ("b", "m2", "r2")
    assert authorizer == {"principalId": "u"}


# -- disconnect event -----------------------------------------------------------------------


def test_disconnect_event_exact_shape() -> None:
    """$disconnect has the four synthetic headers, close code and reason, and no body."""
    event = disconnect_event(API, make_conn(), 1001, "Going away", REQUEST_ID, NOW)
    assert event == {
        "headers": {
            "Host": "ws.example.com:8443",
            "x-api-key": "",
            "X-Forwarded-For": "",
            "x-restapi": "",
        },
        "multiValueHeaders": {
            "Host": ["ws.example.com:8443"],
            "x-api-key": [""],
            "X-Forwarded-For": [""],
            "x-restapi": [""],
        },
        "requestContext": {
            "routeKey": "$disconnect",
            "disconnectStatusCode": 1001,
            "eventType": "DISCONNECT",
            "extendedRequestId": REQUEST_ID,
            "requestTime": "09/Feb/2024:18:11:43 +0000",
            "messageDirection": "IN",
            "disconnectReason": "Going away",
            "stage": "prod",
            "connectedAt": CONNECTED_AT,
            "requestTimeEpoch": NOW,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "wscat/5"},
            "requestId": REQUEST_ID,
            "domainName": "ws.example.com:8443",
            "connectionId": CONN_ID,
            "apiId": "dl7ptocha9",
        },
        "isBase64Encoded": False,
    }
    assert list(event) == ["headers", "multiValueHeaders", "requestContext", "isBase64Encoded"]


def test_disconnect_event_with_authorizer_and_empty_reason() -> None:
    """The authorizer result is carried to $disconnect; an empty reason stays ''."""
    authorizer: dict[str, object] = {"principalId": "user"}
    event = disconnect_event(API, make_conn(authorizer=authorizer), 1005, "", REQUEST_ID, NOW)
    context = event["requestContext"]
    assert isinstance(context, dict)
    assert context["authorizer"] == authorizer
    assert context["disconnectReason"] == ""
    assert context["disconnectStatusCode"] == 1005


@pytest.mark.parametrize("has_query", [False, True])
def test_every_event_serialises(has_query: bool) -> None:
    """All events are plain JSON (no None where AWS omits, no non-JSON values)."""
    conn = make_conn(user_agent=None, authorizer={"principalId": "u", "n": None})
    request = make_request(query=(("a", "1"),), has_query=has_query)
    events = [
        authorizer_event(API, conn, request, REQUEST_ID, NOW),
        connect_event(API, conn, request, REQUEST_ID, NOW),
        MessageEvents(API, conn).build("r", "b", "m", REQUEST_ID, NOW),
        disconnect_event(API, conn, 1000, "Connection Closed Normally", REQUEST_ID, NOW),
    ]
    for event in events:
        assert orjson.loads(orjson.dumps(event)) == event
        assert b":null" not in orjson.dumps(
            {k: v for k, v in event.items() if k != "requestContext"}
        )


# -- nested authorizer contexts (the JWT authorizer's claims) ------------------------------


def jwt_authorizer() -> dict[str, object]:
    return {
        "principalId": "user-1",
        "integrationLatency": 3,
        "jwt": {"claims": {"sub": "user-1", "groups": ["a"]}, "scopes": ["read"]},
    }


def test_message_events_do_not_share_nested_authorizer_values() -> None:
    """A handler that mutates the claims of one MESSAGE event changes no other event."""
    conn = make_conn(authorizer=jwt_authorizer())
    events = MessageEvents(API, conn)
    first = events.build("r", "b", "m1", REQUEST_ID, NOW)
    authorizer = part(first, "requestContext")["authorizer"]
    authorizer["jwt"]["claims"]["sub"] = "mallory"
    authorizer["jwt"]["claims"]["groups"].append("admin")
    authorizer["jwt"]["scopes"].clear()
    second = events.build("r", "b", "m2", REQUEST_ID, NOW)
    assert part(second, "requestContext")["authorizer"] == jwt_authorizer()
    assert conn.authorizer == jwt_authorizer()


def test_connect_and_disconnect_events_copy_nested_authorizer_values() -> None:
    """$connect's and $disconnect's authorizer are deep copies of the connection's."""
    conn = make_conn(authorizer=jwt_authorizer())
    connect = connect_event(API, conn, make_request(), REQUEST_ID, NOW)
    part(connect, "requestContext")["authorizer"]["jwt"]["claims"]["sub"] = "mallory"
    disconnect = disconnect_event(API, conn, 1000, "", REQUEST_ID, NOW)
    assert part(disconnect, "requestContext")["authorizer"] == jwt_authorizer()
    part(disconnect, "requestContext")["authorizer"]["jwt"]["scopes"].append("x")
    assert conn.authorizer == jwt_authorizer()


def test_message_events_with_a_flat_authorizer_still_copy() -> None:
    """A REQUEST authorizer's flat context is copied per event too."""
    conn = make_conn(authorizer={"principalId": "u", "tenant": "acme"})
    events = MessageEvents(API, conn)
    part(events.build("r", "b", "m1", REQUEST_ID, NOW), "requestContext")["authorizer"][
        "tenant"
    ] = "evil"
    second = events.build("r", "b", "m2", REQUEST_ID, NOW)
    assert part(second, "requestContext")["authorizer"] == {"principalId": "u", "tenant": "acme"}

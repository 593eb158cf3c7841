"""Tests for wsgate.core.results."""

from __future__ import annotations

import base64

import pytest

from wsgate.core.results import (
    ConnectOutcome,
    interpret_connect_result,
    is_accepted,
    route_reply,
)


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (None, 200),
        ({}, 200),
        ({"body": "hi"}, 200),
        ("ok", 200),
        (42, 200),
        ([1], 200),
        ({"statusCode": None}, 200),
        ({"statusCode": 200}, 200),
        ({"statusCode": 204}, 204),
        ({"statusCode": 301}, 301),
        ({"statusCode": 401, "body": "no"}, 401),
        ({"statusCode": 501}, 501),
        ({"statusCode": "403"}, 403),
        ({"statusCode": " 201 "}, 201),
        ({"statusCode": 200.0}, 200),
        ({"statusCode": 100}, 502),
        ({"statusCode": 199}, 502),
        ({"statusCode": 200}, 200),
        ({"statusCode": 599}, 599),
        ({"statusCode": 600}, 502),
        ({"statusCode": 99}, 502),
        ({"statusCode": 0}, 502),
        ({"statusCode": -200}, 502),
        ({"statusCode": 200.5}, 502),
        ({"statusCode": "OK"}, 502),
        ({"statusCode": "2OO"}, 502),
        ({"statusCode": "1e2"}, 502),
        ({"statusCode": ""}, 502),
        ({"statusCode": True}, 502),
        ({"statusCode": [200]}, 502),
        ({"statusCode": {"code": 200}}, 502),
    ],
)
def test_connect_status(result: object, status: int) -> None:
    """statusCode decides the handshake; missing means 200; garbage means 502."""
    assert interpret_connect_result(result) == ConnectOutcome(status, None)


@pytest.mark.parametrize(
    ("result", "subprotocol"),
    [
        ({"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat"}}, "chat"),
        ({"headers": {"sec-websocket-protocol": " chat.v2 "}}, "chat.v2"),
        ({"statusCode": 200, "headers": {"X-Other": "1", "SEC-WEBSOCKET-PROTOCOL": "a"}}, "a"),
        ({"multiValueHeaders": {"Sec-WebSocket-Protocol": ["b", "c"]}}, "b"),
        (
            {
                "headers": {"Sec-WebSocket-Protocol": "h"},
                "multiValueHeaders": {"Sec-WebSocket-Protocol": ["m"]},
            },
            "h",
        ),
        ({"headers": {"Sec-WebSocket-Protocol": ""}}, None),
        ({"headers": {"Sec-WebSocket-Protocol": ["list"]}}, None),
        ({"headers": {"Sec-WebSocket-Protocol": None}}, None),
        ({"headers": "Sec-WebSocket-Protocol: chat"}, None),
        ({"headers": {"Content-Type": "text/plain"}}, None),
        ({"multiValueHeaders": {"Sec-WebSocket-Protocol": []}}, None),
    ],
)
def test_connect_subprotocol(result: object, subprotocol: str | None) -> None:
    """Only Sec-WebSocket-Protocol is taken from the response headers."""
    assert interpret_connect_result(result).subprotocol == subprotocol


def test_connect_subprotocol_kept_on_refusal() -> None:
    """The outcome records status and subprotocol independently."""
    outcome = interpret_connect_result(
        {"statusCode": 401, "headers": {"Sec-WebSocket-Protocol": "x"}}
    )
    assert outcome == ConnectOutcome(401, "x")


@pytest.mark.parametrize(
    ("status", "accepted"),
    [(200, True), (201, True), (299, True), (199, False), (300, False), (401, False), (502, False)],
)
def test_is_accepted(status: int, accepted: bool) -> None:
    """Only 2xx statuses upgrade the connection."""
    assert is_accepted(ConnectOutcome(status, None)) is accepted


@pytest.mark.parametrize(
    ("result", "reply"),
    [
        (None, None),
        ("hello", "hello"),
        ("", None),
        (b"\x00\x01", b"\x00\x01"),
        (bytearray(b"ab"), b"ab"),
        ({"statusCode": 200, "body": "hi"}, "hi"),
        ({"statusCode": 500, "body": "still sent"}, "still sent"),
        ({"body": ""}, None),
        ({"body": None}, None),
        ({"statusCode": 200}, None),
        ({}, None),
        ({"body": {"a": 1}}, '{"a":1}'),
        ({"body": [1, "x"]}, '[1,"x"]'),
        ({"body": 3}, "3"),
        ({"body": False}, "false"),
        ({"body": b"raw"}, b"raw"),
        ({"body": "aGk=", "isBase64Encoded": False}, "aGk="),
        ({"body": "aGk=", "isBase64Encoded": "true"}, "aGk="),
        ({"body": "aGk=", "isBase64Encoded": True}, b"hi"),
        ({"body": "aGVs\nbG8=\n", "isBase64Encoded": True}, b"hello"),
        ({"body": "", "isBase64Encoded": True}, None),
        ([1, 2], "[1,2]"),
        (1.5, "1.5"),
        (7, "7"),
        (True, "true"),
    ],
)
def test_route_reply(result: object, reply: str | bytes | None) -> None:
    """Handler results map to the documented reply frames."""
    assert route_reply(result) == reply


@pytest.mark.parametrize(
    "result",
    [
        {"body": "not base64!", "isBase64Encoded": True},
        {"body": "aGk", "isBase64Encoded": True},
        {"body": "héllo", "isBase64Encoded": True},
        {"body": {"a": 1}, "isBase64Encoded": True},
        {"body": b"aGk=", "isBase64Encoded": True},
        {"body": object()},
        object(),
        {1, 2},
        {"body": {1: "non-string key"}},
    ],
)
def test_route_reply_errors(result: object) -> None:
    """Results that cannot become a frame raise ValueError."""
    with pytest.raises(ValueError):
        route_reply(result)


def test_route_reply_base64_round_trip() -> None:
    """Any bytes survive base64 encoding in the result."""
    data = bytes(range(256))
    body = base64.b64encode(data).decode()
    assert route_reply({"body": body, "isBase64Encoded": True}) == data

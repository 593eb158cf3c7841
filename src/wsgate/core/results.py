"""Interpret what handlers return: the ``$connect`` verdict and two-way route replies."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import orjson


__all__ = ["ConnectOutcome", "interpret_connect_result", "is_accepted", "route_reply"]

_MALFORMED = 502  # AWS: "Malformed Lambda proxy response"
_STATUS_TEXT = re.compile(r"\s*[0-9]{1,3}\s*")
_SUBPROTOCOL = "sec-websocket-protocol"


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    """The handshake's fate: ``status`` (2xx → 101 upgrade) and the subprotocol to echo."""

    status: int
    subprotocol: str | None


def _status(value: object) -> int:
    """Read ``statusCode``: an int, an integral float or a numeric string in 200..599.

    A 1xx status cannot end a handshake, so it is malformed like any other bad value.
    (A bool is an int in Python, but True/False are 1/0, out of range, hence 502.)
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _STATUS_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and 200 <= value <= 599:
        return value
    return _MALFORMED


def _subprotocol(result: dict[object, object]) -> str | None:
    """The ``Sec-WebSocket-Protocol`` response header (name case-insensitive), if any."""
    for field, pick_first in (("headers", False), ("multiValueHeaders", True)):
        headers = result.get(field)
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            if not (isinstance(name, str) and name.lower() == _SUBPROTOCOL):
                continue
            if pick_first and isinstance(value, list) and value:
                value = value[0]
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def interpret_connect_result(result: object) -> ConnectOutcome:
    """Turn a ``$connect`` handler's return value into the handshake's outcome.

    None, a non-dict, or a dict without ``statusCode`` (or with ``statusCode: null``)
    accept the connection with 200, as AWS samples that return nothing rely on. A
    ``statusCode`` that is an int, an integral float or a numeric string in 200..599 is
    used as is; anything else is 502, like AWS's malformed proxy response. Of the
    response headers (``headers``, then ``multiValueHeaders``' first value) only
    ``Sec-WebSocket-Protocol`` is kept; malformed headers are ignored. The body is never
    sent.
    """
    if not isinstance(result, dict):
        return ConnectOutcome(200, None)
    code = result.get("statusCode")
    status = 200 if code is None else _status(code)
    return ConnectOutcome(status, _subprotocol(result))


def is_accepted(outcome: ConnectOutcome) -> bool:
    """Tell whether the handshake succeeds (a 2xx status)."""
    return 200 <= outcome.status <= 299


def _json_text(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:
        raise ValueError(f"the handler's result cannot be sent: {error}") from error


def route_reply(result: object) -> str | bytes | None:
    """What a two-way route sends back for a handler's return value (None: nothing).

    * a dict with ``body``: a str body as is, bytes as is, null → nothing, any other
      value → its JSON text; with ``isBase64Encoded: true`` the body must be a base64
      string and is sent decoded, as bytes;
    * a dict without ``body`` → nothing (a bare ``{"statusCode": 200}`` sends nothing);
    * a str or bytes (bytearray, memoryview) → itself; None → nothing;
    * any other JSON-able value (list, number, bool) → its JSON text.

    An empty body sends nothing (as serverless-offline does; AWS's behaviour is
    unconfirmed).

    Raises:
        ValueError: the result cannot be turned into a frame (invalid base64, a value
            orjson cannot serialise); the caller treats it as a failed integration.
    """
    if isinstance(result, dict):
        if "body" not in result:
            return None
        body = result["body"]
        if result.get("isBase64Encoded") is True:
            if not isinstance(body, str):
                raise ValueError("isBase64Encoded is true but the body is not a string")
            try:
                # Line breaks (as `base64.encodebytes` adds) are tolerated; nothing else is.
                body = base64.b64decode("".join(body.split()), validate=True)
            except (binascii.Error, ValueError) as error:
                raise ValueError(
                    f"isBase64Encoded is true but the body is not base64: {error}"
                ) from error
        return _reply(body)
    return _reply(result)


def _reply(value: object) -> str | bytes | None:
    if type(value) is str:  # the usual body: one cheap test before the general ones
        return value or None
    if isinstance(value, str | bytes):
        return value or None
    if isinstance(value, bytearray | memoryview):
        return bytes(value) or None
    if value is None:
        return None
    return _json_text(value)

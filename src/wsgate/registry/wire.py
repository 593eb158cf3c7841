"""The messages Redis nodes exchange: an operation for the node that owns a connection,
and that node's reply. Pure: no I/O.

A message is a JSON head, a newline, then the payload as raw bytes: a binary POST crosses
without base64, and the head says whether the payload was ``str`` or ``bytes``, so the
owner sends the frame type the asking node was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson

from wsgate.registry.base import ConnectionInfo


__all__ = ["Operation", "Outcome", "Reply", "Request", "decode", "encode_reply", "encode_request"]

Operation = Literal["send", "info", "close"]
Outcome = Literal["ok", "gone", "full", "error"]
"""``full`` is ``BufferFull``; ``error`` is anything else the owner's connection raised."""

_OPERATIONS: frozenset[str] = frozenset(("send", "info", "close"))
_OUTCOMES: frozenset[str] = frozenset(("ok", "gone", "full", "error"))


@dataclass(frozen=True, slots=True)
class Request:
    """An operation on ``connection_id``, to be answered to node ``reply_to``."""

    request_id: int
    reply_to: str
    operation: Operation
    connection_id: str
    data: str | bytes | None = None
    """The message of a ``send``; None otherwise."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The owning node's answer to request ``request_id``."""

    request_id: int
    outcome: Outcome
    info: ConnectionInfo | None = None
    """The connection's info, for an ``info`` that succeeded."""


def encode_request(request: Request) -> bytes:
    """The bytes to publish for ``request``."""
    head: dict[str, object] = {
        "id": request.request_id,
        "from": request.reply_to,
        "op": request.operation,
        "c": request.connection_id,
    }
    body = b""
    data = request.data
    if isinstance(data, str):
        head["t"] = "text"
        # surrogatepass: whatever str was given comes back equal, not only valid UTF-8.
        body = data.encode("utf-8", "surrogatepass")
    elif data is not None:
        head["t"] = "binary"
        body = data
    return orjson.dumps(head) + b"\n" + body


def encode_reply(reply: Reply) -> bytes:
    """The bytes to publish for ``reply``."""
    head: dict[str, object] = {"re": reply.request_id, "o": reply.outcome}
    info = reply.info
    if info is not None:
        head["info"] = [
            info.connection_id,
            info.connected_at,
            info.last_active_at,
            info.source_ip,
            info.user_agent,
        ]
    return orjson.dumps(head) + b"\n"


def decode(message: bytes) -> Request | Reply:
    """Read a published message.

    Raises:
        ValueError: it is not a message of this module's making.
    """
    raw_head, newline, body = message.partition(b"\n")
    if not newline:
        raise ValueError("no head")
    head = orjson.loads(raw_head)  # orjson.JSONDecodeError is a ValueError
    if not isinstance(head, dict):
        raise ValueError("the head is not an object")
    if "re" in head:
        return _reply(head)
    return _request(head, body)


def _reply(head: dict[str, Any]) -> Reply:
    request_id, outcome, info = head.get("re"), head.get("o"), head.get("info")
    if type(request_id) is not int or outcome not in _OUTCOMES:
        raise ValueError("malformed reply")
    if info is None:
        return Reply(request_id, cast(Outcome, outcome))
    match info:
        case [str(cid), int(connected), int(last_active), str(source_ip), str() | None as agent]:
            return Reply(
                request_id,
                cast(Outcome, outcome),
                ConnectionInfo(cid, connected, last_active, source_ip, agent),
            )
    raise ValueError("malformed info")


def _request(head: dict[str, Any], body: bytes) -> Request:
    request_id, reply_to = head.get("id"), head.get("from")
    operation, connection_id, kind = head.get("op"), head.get("c"), head.get("t")
    if (
        type(request_id) is not int
        or not isinstance(reply_to, str)
        or operation not in _OPERATIONS
        or not isinstance(connection_id, str)
    ):
        raise ValueError("malformed request")
    data: str | bytes | None
    if operation != "send":
        data = None
    elif kind == "text":
        data = body.decode("utf-8", "surrogatepass")
    elif kind == "binary":
        data = body
    else:
        raise ValueError("a send without its payload's type")
    return Request(request_id, reply_to, cast(Operation, operation), connection_id, data)

"""What a Redis directory entry keeps of a connection so that another node can run its
``$disconnect`` if the owning node dies: the ``ConnectionContext`` every event of the
connection repeats, as one compact JSON array. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from wsgate.core.request import ConnectionContext
from wsgate.registry.base import LocalConnection


__all__ = ["context_of", "decode_context", "encode_context"]


def context_of(connection: LocalConnection) -> ConnectionContext:
    """The connection's context: the session's own (``authorizer`` included) when it has
    one, else what ``info()`` tells (no authorizer)."""
    context = getattr(connection, "context", None)
    if isinstance(context, ConnectionContext):
        return context
    info = connection.info()
    return ConnectionContext(info.connection_id, info.connected_at, info.source_ip, info.user_agent)


def encode_context(context: ConnectionContext) -> bytes:
    """``[connectedAt, sourceIp, userAgent, authorizer]``; the id is the entry's name."""
    return orjson.dumps(
        [context.connected_at, context.source_ip, context.user_agent, context.authorizer]
    )


def decode_context(connection_id: str, data: bytes) -> ConnectionContext:
    """The context ``encode_context`` wrote for ``connection_id``.

    Raises:
        ValueError: not an entry of ``encode_context``'s making.
    """
    value: Any = orjson.loads(data)
    match value:
        case [int(connected_at), str(source_ip), str() | None as agent, dict() | None as auth]:
            return ConnectionContext(connection_id, connected_at, source_ip, agent, auth)
    raise ValueError("malformed directory entry")

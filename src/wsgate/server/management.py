"""The management API (``@connections``) as boto3's ``apigatewaymanagementapi`` speaks it.

Thin by design: the path is parsed and the errors are shaped in ``core.management`` and
``core.errors``; every operation goes through the registry, wherever the connection lives.
"""

from __future__ import annotations

import uuid

from aiohttp import hdrs, web

from wsgate.core.errors import ManagementError, management_error
from wsgate.core.management import (
    ConnectionPath,
    WrongStage,
    connection_info_body,
    parse_management_path,
)
from wsgate.exceptions import BufferFull, Gone
from wsgate.server.keys import GATEWAY


__all__ = ["management_endpoint"]

# PostToConnection's Data is at most 128 KiB (the botocore model's max).
MAX_POST_BYTES = 131072


def _error(kind: ManagementError, message: str | None = None) -> web.Response:
    status, headers, body = management_error(kind, message)
    response = web.Response(status=status, body=body, headers=headers)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _ok(status: int, body: bytes = b"") -> web.Response:
    response = web.Response(status=status, body=body or None)
    if body:
        response.content_type = "application/json"
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    """The whole body, or None as soon as it is known to be longer than ``cap``."""
    if (request.content_length or 0) > cap:
        return None
    body = bytearray()
    while chunk := await request.content.read(cap + 1 - len(body)):
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


async def management_endpoint(request: web.Request) -> web.StreamResponse:
    """``POST|GET|DELETE [/{stage}]/@connections/{connectionId}``."""
    gateway = request.app[GATEWAY]
    target = parse_management_path(request.raw_path.partition("?")[0], gateway.api.stage)
    if isinstance(target, WrongStage):
        return _error(ManagementError.FORBIDDEN, "Forbidden")
    if not isinstance(target, ConnectionPath):
        return _error(ManagementError.FORBIDDEN, "Missing Authentication Token")
    connection_id = target.connection_id
    registry = gateway.registry
    try:
        if request.method == hdrs.METH_POST:
            data = await _read_capped(request, MAX_POST_BYTES)
            if data is None:
                return _error(ManagementError.PAYLOAD_TOO_LARGE)
            try:
                payload: str | bytes = data.decode("utf-8")
            except UnicodeDecodeError:
                payload = data
            await registry.send(connection_id, payload)
            return _ok(200)
        if request.method == hdrs.METH_GET:
            info = await registry.info(connection_id)
            body = connection_info_body(
                info.connected_at, info.last_active_at, info.source_ip, info.user_agent
            )
            return _ok(200, body)
        await registry.close(connection_id)
        return _ok(204)
    except Gone:
        return _error(ManagementError.GONE)
    except BufferFull:
        return _error(ManagementError.LIMIT_EXCEEDED, "The client is not reading its messages")

"""The upgrade endpoint: identity, authorizer and ``$connect`` decide before any 101.

Every refusal is an ordinary HTTP response returned before ``prepare()``, so no frame is
read and no connectionId is reachable unless the whole AWS sequence allowed it.
"""

from __future__ import annotations

import logging
import time

import orjson
from aiohttp import hdrs, web

from wsgate.auth.base import Refused
from wsgate.core.events import connect_event
from wsgate.core.ids import new_id
from wsgate.core.request import ConnectionContext, HandshakeRequest
from wsgate.core.results import interpret_connect_result, is_accepted
from wsgate.exceptions import DuplicateConnection, HandlerFailed, IntegrationTimeout
from wsgate.server.frames import GuardedWebSocketResponse
from wsgate.server.gateway import Gateway
from wsgate.server.keys import GATEWAY
from wsgate.server.session import Session


__all__ = ["websocket_endpoint"]

log = logging.getLogger("wsgate.handshake")

_MESSAGES = {
    401: "Unauthorized",
    403: "Forbidden",
    426: "Upgrade Required",
    429: "Too many connections",
    500: "Internal server error",
    502: "Internal server error",
    503: "Service unavailable",
    504: "Endpoint request timed out",
}


# The refusals' bodies, serialised once.
_BODIES = {status: orjson.dumps({"message": message}) for status, message in _MESSAGES.items()}


def _refuse(status: int) -> web.Response:
    body = _BODIES.get(status, b"")
    return web.Response(status=status, body=body, content_type="application/json")


def _snapshot(request: web.Request) -> HandshakeRequest:
    """The handshake as the core needs it: raw header case and order, decoded query."""
    # aiohttp's header map keeps each name as the client spelled it, in order.
    headers = tuple(request.headers.items())
    query = tuple(request.rel_url.query.items())
    # The connection's own address, which aiohttp read once when the request arrived (the
    # transport's get_extra_info would ask the kernel again).
    sockname = request.protocol.sockname
    port = int(sockname[1]) if sockname else 0
    return HandshakeRequest(
        headers=headers,
        query=query,
        # raw_path keeps a bare `?` that the parsed URL drops; AWS gives empty maps then.
        has_query="?" in request.raw_path,
        source_ip=request.remote or "",
        port=port,
        scheme="https" if request.secure else "http",
    )


async def websocket_endpoint(request: web.Request) -> web.StreamResponse:
    """Run the AWS handshake sequence; serve the connection if every step allowed it."""
    gateway = request.app[GATEWAY]
    stage = request.match_info.get("stage")
    if stage is not None and stage != gateway.api.stage:
        return _refuse(403)
    if gateway.draining:
        return _refuse(503)
    headers = request.headers
    if headers.get(hdrs.UPGRADE, "").lower() != "websocket":
        return _refuse(426)
    if (
        "upgrade" not in headers.get(hdrs.CONNECTION, "").lower()
        or headers.get(hdrs.SEC_WEBSOCKET_VERSION) != "13"
        or not headers.get(hdrs.SEC_WEBSOCKET_KEY)
    ):
        # aiohttp checks the key's form again when it upgrades; this spares the
        # authorizer and $connect a request that can never become a connection.
        return _refuse(400)
    cap = gateway.limits.max_connections
    if cap is not None and gateway.open_connections >= cap:
        return _refuse(429)
    gateway.open_connections += 1
    try:
        decision = await _decide(gateway, request)
        if not isinstance(decision, tuple):
            # A refusal (a Response, whose isinstance check would take ABCMeta's slow path).
            return decision
        connection, subprotocol = decision
        return await _serve(gateway, request, connection, subprotocol)
    finally:
        gateway.open_connections -= 1


async def _decide(
    gateway: Gateway, request: web.Request
) -> tuple[ConnectionContext, str | None] | web.Response:
    """Authorizer, then ``$connect``: the connection to open and its subprotocol, or a refusal.

    Kept apart from ``_serve`` so that the handshake's events and snapshot are freed
    before the connection's long life begins.
    """
    snapshot = _snapshot(request)
    # The snapshot's user_agent, found by aiohttp's header map instead of a scan.
    user_agents = request.headers.getall(hdrs.USER_AGENT, ())
    connection = ConnectionContext(
        connection_id=new_id(),
        connected_at=int(time.time() * 1000),
        source_ip=snapshot.source_ip,
        user_agent=user_agents[-1] if user_agents else None,
        authorizer=None,
    )
    if gateway.authorizer is not None:
        decision = await gateway.authorizer.authorize(gateway.api, connection, snapshot, new_id())
        if isinstance(decision, Refused):
            log.info(
                "handshake refused by the authorizer (%d): %s", decision.status, decision.reason
            )
            return _refuse(decision.status)
        connection.authorizer = decision.context
    subprotocol: str | None = None
    route = gateway.routes.get("$connect")
    if route is not None:
        request_id = new_id()
        event = connect_event(
            gateway.api, connection, snapshot, request_id, int(time.time() * 1000)
        )
        try:
            result = await route.integration.invoke(event, request_id)
        except HandlerFailed as exc:
            log.warning("$connect: %s", exc, exc_info=exc.error)
            return _refuse(502)
        except IntegrationTimeout as exc:
            log.warning("$connect: %s", exc)
            return _refuse(504)
        outcome = interpret_connect_result(result)
        if not is_accepted(outcome):
            return _refuse(outcome.status)
        subprotocol = outcome.subprotocol
    return connection, subprotocol


async def _serve(
    gateway: Gateway,
    request: web.Request,
    connection: ConnectionContext,
    subprotocol: str | None,
) -> web.StreamResponse:
    """Upgrade, register, and serve the connection until it ends."""
    limits = gateway.limits
    ws = GuardedWebSocketResponse(
        max_frame_bytes=limits.max_frame_bytes,
        max_msg_size=limits.max_message_bytes,
        protocols=(subprotocol,) if subprotocol else (),
        autoping=True,
        compress=False,
    )
    try:
        await ws.prepare(request)
    except (ConnectionError, RuntimeError) as exc:
        # The client left during $connect: the connection never existed, so no $disconnect.
        # An unprepared WebSocketResponse cannot be finished by aiohttp; a plain response
        # can, and writing it to the closed transport is quietly dropped.
        log.debug("client left before the upgrade completed: %r", exc)
        return web.Response(status=400)
    transport = request.transport
    if transport is None:
        log.info("client left as the upgrade completed")
        return ws
    session = Session(gateway, ws, transport, connection)
    try:
        await gateway.registry.register(session)
    except DuplicateConnection:
        log.error("connectionId %s collided; closing", connection.connection_id)
        await ws.close(code=1011)
        return ws
    await session.run()
    return ws

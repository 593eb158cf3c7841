"""The AWS handshake: identity, authorizer and ``$connect`` decide before any 101.

Runs in the connection's own task, started by the front door once the upgrade request
is read. Every refusal is an HTTP response written before the upgrade, so no frame is
read and no connectionId is reachable unless the whole AWS sequence allowed it. The same
task then serves the connection (``Session.run``) until it ends.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from wsgate.auth.base import Refused
from wsgate.core.events import connect_event
from wsgate.core.ids import new_id
from wsgate.core.request import ConnectionContext, HandshakeRequest
from wsgate.core.results import ConnectOutcome, interpret_connect_result, is_accepted
from wsgate.core.upgrade import UPGRADE_FIELDS, RequestHead, parse_query, upgrade_refusal
from wsgate.exceptions import DuplicateConnection, HandlerFailed, IntegrationTimeout
from wsgate.server.connection import WebSocketConnection
from wsgate.server.gateway import Gateway, Limits
from wsgate.server.lifecycle import Lifecycle
from wsgate.server.session import Session
from wsgate.server.traffic import SourceLimits


__all__ = ["Door", "handshake"]


class Door(Protocol):
    """What the handshake needs of the connection it runs on (``server.frontdoor``)."""

    scheme: str
    """``http`` or ``https``: the listener the client came in on."""

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address and the local port it connected to."""
        ...

    def refuse(self, status: int, *, websocket_version: bool = False) -> None:
        """Answer with ``status`` and AWS's JSON message, then close the connection."""
        ...

    def upgrade(
        self, key: str, subprotocol: str | None, limits: Limits
    ) -> WebSocketConnection | None:
        """Send the 101 and hand the socket to a WebSocket; None if the client left."""
        ...


log = logging.getLogger("wsgate.handshake")

_FORGOTTEN = RequestHead("GET", "/", None, ())
"""What the handshake's long-lived frame holds in place of the request it read."""


def _refuse(gateway: Gateway, door: Door, status: int, *, websocket_version: bool = False) -> None:
    """Refuse a request the authorizer and ``$connect`` never saw (they count their own
    outcomes, ``observer.connected``), counted by status for ``/metrics``."""
    if gateway.dispatcher.observer is not None:
        gateway.dispatcher.observer.refused(status)
    door.refuse(status, websocket_version=websocket_version)


async def handshake(gateway: Gateway, door: Door, head: RequestHead, segment: str) -> None:
    """Run the AWS handshake sequence; serve the connection if every step allowed it."""
    if segment and segment != gateway.api.stage:
        return _refuse(gateway, door, 403)
    if gateway.traffic.draining:
        return _refuse(gateway, door, 503)
    # Checked first: it spares the authorizer and $connect a request that can never
    # become a connection.
    found = head.values(UPGRADE_FIELDS)  # one pass over the headers for every check
    refused = upgrade_refusal(head, found)
    if refused is not None:
        log.info("upgrade refused (%d): %s", *refused)
        return _refuse(gateway, door, refused[0], websocket_version=True)
    key = found["sec-websocket-key"][0]  # exactly one (upgrade_refusal)
    traffic = gateway.traffic
    if not traffic.admit(gateway.limits.max_connections):
        return _refuse(gateway, door, 429)
    sources = traffic.sources
    if sources is None:
        server = gateway.config.server
        sources = traffic.sources = SourceLimits(
            server.max_connections_per_ip,
            server.connection_rate_per_ip,
            server.connection_burst_per_ip,
        )
    source_ip = door.peer[0]
    if not sources.admit(source_ip, time.monotonic()):
        traffic.release()
        log.info("upgrade from %s refused (429): over its per-address limits", source_ip)
        return _refuse(gateway, door, 429)
    try:
        agents = found.get("user-agent")
        decision = await _decide(gateway, door, head, agents[-1] if agents else None)
        if isinstance(decision, int):
            return door.refuse(decision)
        connection, subprotocol = decision
        offered = found.get("sec-websocket-protocol")
        agreed = _agreed(subprotocol, ", ".join(offered) if offered else None)
        # This frame lives as long as the connection: keep none of the request in it
        # (rebound, not deleted: compiled code cannot delete a local).
        head, found = _FORGOTTEN, {}
        await _serve(gateway, door, key, connection, agreed)
    finally:
        traffic.release()
        sources.release(source_ip)


def _agreed(chosen: str | None, offered: str | None) -> str | None:
    """The subprotocol to answer with: ``$connect``'s choice, if the client offered it.

    A client fails a handshake whose subprotocol it did not ask for, so one it did not
    offer is left out (and logged) rather than sent.
    """
    if not chosen:
        return None
    if offered and chosen in (item.strip() for item in offered.split(",")):
        return chosen
    log.warning("$connect chose subprotocol %r, which the client did not offer", chosen)
    return None


async def _decide(
    gateway: Gateway, door: Door, head: RequestHead, user_agent: str | None
) -> tuple[ConnectionContext, str | None] | int:
    """Authorizer, then ``$connect``: the connection to open and its subprotocol, or the
    status refusing it.

    Kept apart from ``_serve`` so that the handshake's events and snapshot are freed
    before the connection's long life begins.
    """
    source_ip, port = door.peer
    snapshot = HandshakeRequest(
        headers=head.headers,
        query=parse_query(head.query) if head.query else (),
        # A bare `?` still counts: AWS gives empty query maps then.
        has_query=head.query is not None,
        source_ip=source_ip,
        port=port,
        scheme=door.scheme,
    )
    connection = ConnectionContext(
        connection_id=gateway.registry.new_connection_id(),
        connected_at=int(time.time() * 1000),
        source_ip=source_ip,
        user_agent=user_agent,
        authorizer=None,
    )
    throttle = gateway.connect_throttle
    if throttle is not None and not throttle.take(time.monotonic()):
        # Before the authorizer: a throttled request costs no integration (as on AWS).
        log.info("upgrade from %s refused (429): $connect is over its throttle", source_ip)
        if gateway.dispatcher.observer is not None:
            gateway.dispatcher.observer.connect_throttled(connection)
        return 429
    outcome: Refused | ConnectOutcome | int | None
    started = time.perf_counter()
    if gateway.one_hop is not None:
        request_ids = (new_id(), new_id())
        outcome = await gateway.one_hop.decide(gateway.api, connection, snapshot, request_ids)
    else:
        outcome = await _authorize_then_connect(gateway, connection, snapshot)
    if gateway.dispatcher.observer is not None:  # metrics and access log
        gateway.dispatcher.observer.connected(connection, outcome, started)
    if isinstance(outcome, Refused):
        log.info("handshake refused by the authorizer (%d): %s", outcome.status, outcome.reason)
        return outcome.status
    if isinstance(outcome, int):
        return outcome
    if outcome is None:
        return connection, None  # no $connect route
    if not is_accepted(outcome):
        return outcome.status
    return connection, outcome.subprotocol


async def _authorize_then_connect(
    gateway: Gateway, connection: ConnectionContext, snapshot: HandshakeRequest
) -> Refused | ConnectOutcome | int | None:
    """The authorizer's refusal, ``$connect``'s outcome (None without a ``$connect``
    route), or the status its failure gives (502 raised, 504 late); each handler takes its
    own trip. Fills ``connection.authorizer`` when allowed."""
    if gateway.authorizer is not None:
        decision = await gateway.authorizer.authorize(gateway.api, connection, snapshot, new_id())
        if isinstance(decision, Refused):
            return decision
        connection.authorizer = decision.context
    route = gateway.routes.get("$connect")
    if route is None:
        return None
    request_id = new_id()
    event = connect_event(gateway.api, connection, snapshot, request_id, int(time.time() * 1000))
    try:
        result = await route.handler.invoke(event, request_id)
    except HandlerFailed as exc:
        log.warning("$connect: %s", exc, exc_info=exc.error)
        return 502
    except IntegrationTimeout as exc:
        log.warning("$connect: %s", exc)
        return 504
    return interpret_connect_result(result)


async def _serve(
    gateway: Gateway,
    door: Door,
    key: str,
    connection: ConnectionContext,
    subprotocol: str | None,
) -> None:
    """Upgrade, register, and serve the connection until it ends."""
    if gateway.traffic.draining:
        # The gateway began shutting down while the handshake ran.
        return _refuse(gateway, door, 503)
    registry, connection_id = gateway.registry, connection.connection_id
    try:
        # Before the 101: once the client knows it is connected, every process reaches it.
        await registry.reserve(connection_id)
    except DuplicateConnection:
        log.error("connectionId %s collided; refusing", connection_id)
        return _refuse(gateway, door, 500)
    websocket = door.upgrade(key, subprotocol, gateway.limits)
    if websocket is None:
        # The client left during $connect: the connection never existed, so no $disconnect.
        log.debug("client left before the upgrade completed")
        await registry.unregister(connection_id)
        return
    if gateway.dispatcher.observer is not None:
        gateway.dispatcher.observer.upgraded()
    session = Session(websocket, connection)
    await registry.register(session)
    await Lifecycle(gateway, gateway.dispatcher, session).run()

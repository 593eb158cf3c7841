"""``$disconnect`` for connections whose gateway process died.

With the Redis registry, a surviving node finds the connections of a node whose lease
lapsed (it was killed) and claims each one, exactly once across all nodes; it runs their
``$disconnect`` here, as AWS reports a connection lost without a close frame.
"""

from __future__ import annotations

import logging
import time

from wsgate.core.events import disconnect_event
from wsgate.core.ids import new_id
from wsgate.core.request import ConnectionContext
from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.server.gateway import Gateway
from wsgate.server.session import ABNORMAL


__all__ = ["disconnect_orphan"]

log = logging.getLogger("wsgate.session")


async def disconnect_orphan(gateway: Gateway, context: ConnectionContext) -> None:
    """Invoke ``$disconnect`` for a connection another, dead, process held."""
    route = gateway.routes.get("$disconnect")
    if route is None:
        return
    request_id = new_id()
    event = disconnect_event(
        gateway.api, context, ABNORMAL.code, ABNORMAL.reason, request_id, int(time.time() * 1000)
    )
    try:
        await route.handler.invoke(event, request_id)
    except (HandlerFailed, IntegrationTimeout) as exc:
        log.warning("$disconnect of %s (its process died): %s", context.connection_id, exc)

"""The aiohttp application: the upgrade endpoint and the management API on one port."""

from __future__ import annotations

from aiohttp import web

from wsgate.server.gateway import Gateway
from wsgate.server.handshake import websocket_endpoint
from wsgate.server.keys import GATEWAY
from wsgate.server.management import management_endpoint


__all__ = ["create_app"]


async def _on_startup(app: web.Application) -> None:
    await app[GATEWAY].registry.start()


async def _on_shutdown(app: web.Application) -> None:
    """Refuse new handshakes and close every connection with 1001; sessions run $disconnect."""
    gateway = app[GATEWAY]
    gateway.draining = True
    for connection in gateway.registry.local_connections():
        await connection.close_going_away()


async def _on_cleanup(app: web.Application) -> None:
    gateway = app[GATEWAY]
    await gateway.registry.aclose()
    if gateway.authorizer is not None:
        await gateway.authorizer.aclose()
    gateway.threads.shutdown()


def create_app(gateway: Gateway) -> web.Application:
    """Build the application serving ``gateway``."""
    # The management API's own limit is enforced in the handler with the AWS error shape.
    app = web.Application(client_max_size=1024 * 1024)
    app[GATEWAY] = gateway
    router = app.router
    router.add_get("/", websocket_endpoint)
    router.add_get("/{stage}", websocket_endpoint)
    for method in ("POST", "GET", "DELETE"):
        router.add_route(method, "/{path:.*}", management_endpoint)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app

"""The aiohttp application: what the front door does not answer itself.

WebSocket upgrades never reach it, nor management calls with a plain ``Content-Length``
body: the front door (``server.frontdoor``) takes those. What reaches it is every other
request, the management calls framed otherwise (chunked, ``Expect``, a body over the
limit) and a GET of an upgrade path on a connection that began with another request.
"""

from __future__ import annotations

import asyncio

from aiohttp import hdrs, web

from wsgate.core.upgrade import refusal
from wsgate.server.gateway import Gateway
from wsgate.server.keys import GATEWAY
from wsgate.server.management import MAX_POST_BYTES, perform


__all__ = ["create_app"]


async def _on_startup(app: web.Application) -> None:
    await app[GATEWAY].registry.start()


async def _on_shutdown(app: web.Application) -> None:
    """Refuse new handshakes, close every connection with 1001, wait for their
    ``$disconnect`` within ``server.shutdown_timeout``."""
    gateway = app[GATEWAY]
    gateway.traffic.draining = True
    for connection in gateway.registry.local_connections():
        await connection.close_going_away()
    tasks = set(gateway.traffic.tasks)
    if not tasks:
        return
    _done, late = await asyncio.wait(tasks, timeout=gateway.config.server.shutdown_timeout)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)


async def _on_cleanup(app: web.Application) -> None:
    gateway = app[GATEWAY]
    await gateway.registry.aclose()
    if gateway.authorizer is not None:
        await gateway.authorizer.aclose()
    gateway.threads.shutdown()


async def _read_capped(request: web.Request, cap: int) -> bytes:
    """The whole body, or its first ``cap + 1`` bytes when it is longer than ``cap``."""
    body = bytearray()
    while chunk := await request.content.read(cap + 1 - len(body)):
        body += chunk
        if len(body) > cap:
            break
    return bytes(body)


async def management_endpoint(request: web.Request) -> web.StreamResponse:
    """``POST|GET|DELETE [/{stage}]/@connections/{connectionId}``, as ``perform`` answers."""
    body = b""
    if request.method == hdrs.METH_POST:
        body = await _read_capped(request, MAX_POST_BYTES)
    status, headers, payload = await perform(
        request.app[GATEWAY], request.method, request.raw_path, body
    )
    return web.Response(status=status, body=payload or None, headers=headers)


async def _not_first(request: web.Request) -> web.Response:
    """A GET of an upgrade path that was not the connection's first request."""
    # 426 like any GET without an upgrade; an upgrade needs a connection of its own.
    answer = refusal(426)
    body = answer[answer.index(b"\r\n\r\n") + 4 :]
    return web.Response(
        status=426, body=body, content_type="application/json", headers={"Upgrade": "websocket"}
    )


def create_app(gateway: Gateway) -> web.Application:
    """Build the application serving ``gateway``."""
    # The management API's own limit is enforced in the handler with the AWS error shape.
    app = web.Application(client_max_size=1024 * 1024)
    app[GATEWAY] = gateway
    router = app.router
    router.add_get("/", _not_first)
    router.add_get("/{stage}", _not_first)
    for method in ("POST", "GET", "DELETE"):
        router.add_route(method, "/{path:.*}", management_endpoint)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app

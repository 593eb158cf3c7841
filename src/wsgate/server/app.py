"""The aiohttp application: what the front door does not answer itself.

WebSocket upgrades never reach it, nor management calls with a plain ``Content-Length``
body: the front door (``server.frontdoor``) takes those. What reaches it is every other
request, the management calls framed otherwise (chunked, ``Expect``, a body over the
limit) and a GET of an upgrade path on a connection that began with another request.

Its management endpoint asks ``server.management.check_access`` before ``perform``, as the
front door does. ``create_management_app`` is the application of a ``management.listen``
listener: the management endpoint alone.
"""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import hdrs, web

from wsgate.bodies import read_capped
from wsgate.core.upgrade import refusal
from wsgate.server.connection import CLOSE_TIMEOUT
from wsgate.server.gateway import Gateway
from wsgate.server.keys import GATEWAY
from wsgate.server.management import (
    MAX_POST_BYTES,
    OPEN,
    ManagementAccess,
    check_access,
    perform,
)
from wsgate.server.orphans import disconnect_orphan


__all__ = ["create_admin_app", "create_app", "create_management_app"]

ACCESS = web.AppKey("wsgate.management_access", ManagementAccess)
"""Who may make management calls on the listeners this application serves."""


async def _on_startup(app: web.Application) -> None:
    gateway = app[GATEWAY]
    if gateway.config.registry.backend == "redis":
        # The connections of a process that died get their $disconnect from a survivor.
        from wsgate.registry.redis import RedisRegistry

        if isinstance(gateway.registry, RedisRegistry):
            gateway.registry.on_orphan = partial(disconnect_orphan, gateway)
    await gateway.registry.start()
    if gateway.invoke_api is not None:
        # Lambda's Invoke API for the functions, before the first connection: it sets
        # AWS_ENDPOINT_URL_LAMBDA, which the workers inherit and the handlers' boto3 reads.
        await gateway.invoke_api.start()


async def _on_shutdown(app: web.Application) -> None:
    """Refuse new handshakes, close every connection with 1001, wait for their
    ``$disconnect`` within ``server.shutdown_timeout``.

    A client that does not answer the close frame is dropped halfway through the
    timeout, so that its ``$disconnect`` still runs in the other half.
    """
    gateway = app[GATEWAY]
    gateway.traffic.draining = True
    budget = gateway.config.server.shutdown_timeout
    for connection in gateway.registry.local_connections():
        await connection.close_going_away(min(CLOSE_TIMEOUT, budget / 2))
    tasks = set(gateway.traffic.tasks)
    if not tasks:
        return
    _done, late = await asyncio.wait(tasks, timeout=budget)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)


async def _on_cleanup(app: web.Application) -> None:
    gateway = app[GATEWAY]
    if gateway.invoke_api is not None:  # Event invocations run (or are logged dropped)
        await gateway.invoke_api.aclose(gateway.config.server.shutdown_timeout)
    if gateway.functions is not None:  # after the drain: $disconnect ran on the workers
        await gateway.functions.aclose()
    await gateway.registry.aclose()
    if gateway.authorizer is not None:
        await gateway.authorizer.aclose()
    gateway.runners.threads.shutdown()
    gateway.runners.handshake_threads.shutdown()


async def management_endpoint(request: web.Request) -> web.StreamResponse:
    """``POST|GET|DELETE [/{stage}]/@connections/{connectionId}``, as ``perform`` answers."""
    body = b""
    if request.method == hdrs.METH_POST:
        body = await read_capped(request, MAX_POST_BYTES)
    raw_path = request.raw_path  # the target as received: path and query, still encoded
    path, mark, query = raw_path.partition("?")
    reply = check_access(
        request.app[ACCESS],
        tuple(request.headers.items()),
        request.method,
        path,
        query if mark else None,
        body,
    )
    if reply is None:  # not refused
        reply = await perform(request.app[GATEWAY], request.method, raw_path, body)
    status, headers, payload = reply
    return web.Response(status=status, body=payload or None, headers=headers)


async def _not_first(request: web.Request) -> web.Response:
    """A GET of an upgrade path that was not the connection's first request."""
    # 426 like any GET without an upgrade; an upgrade needs a connection of its own.
    answer = refusal(426)
    body = answer[answer.index(b"\r\n\r\n") + 4 :]
    return web.Response(
        status=426, body=body, content_type="application/json", headers={"Upgrade": "websocket"}
    )


def create_app(gateway: Gateway, access: ManagementAccess = OPEN) -> web.Application:
    """Build the application serving ``gateway``; ``access`` rules its management calls."""
    # The management API's own limit is enforced in the handler with the AWS error shape.
    app = web.Application(client_max_size=1024 * 1024)
    app[GATEWAY] = gateway
    app[ACCESS] = access
    router = app.router
    router.add_get("/", _not_first)
    router.add_get("/{stage}", _not_first)
    for method in ("POST", "GET", "DELETE"):
        router.add_route(method, "/{path:.*}", management_endpoint)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


def create_management_app(gateway: Gateway, access: ManagementAccess) -> web.Application:
    """Build the application of a ``management.listen`` listener: every request is a
    management call. The gateway's own application starts and stops the gateway."""
    app = web.Application(client_max_size=1024 * 1024)
    app[GATEWAY] = gateway
    app[ACCESS] = access
    for method in ("POST", "GET", "DELETE"):
        app.router.add_route(method, "/{path:.*}", management_endpoint)
    return app


async def _metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus's text format (``server.observe.metrics``)."""
    observer = request.app[GATEWAY].dispatcher.observer
    if observer is None or observer.metrics is None:
        raise web.HTTPNotFound()
    from prometheus_client import CONTENT_TYPE_LATEST

    return web.Response(
        body=observer.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def _health(request: web.Request) -> web.Response:
    """``GET /health``: 200 while serving, 503 once the gateway drains (shutdown)."""
    if request.app[GATEWAY].traffic.draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "serving"})


def create_admin_app(gateway: Gateway) -> web.Application:
    """Build the application of the ``admin.listen`` listener: ``/metrics`` and
    ``/health``, never served on the server ports."""
    app = web.Application()
    app[GATEWAY] = gateway
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/health", _health)
    return app

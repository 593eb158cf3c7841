"""The baseline: the raw aiohttp + uvloop server, with no gateway logic.

It is what wsgate's own stack can do at all, measured beside wsgate in the same run:

* ``GET /{stage}`` upgrades with no checks and echoes every text message back;
* ``{"action":"whoami"}`` answers with an id for the connection (management scenario);
* ``{"action":"fanout"...}`` sends the message to every open connection (fan-out);
* ``POST /{stage}/@connections/{id}`` sends the body to that connection as a text frame.

Only the echo loop runs in the round-trip and handshake scenarios; the other two are
recognised only when the server is started with ``--routes``, so that the echo baseline
does not pay for a single comparison more than aiohttp needs. With ``--authorize`` (the
connection-life scenario) the upgrade first does what wsgate's authorizer and ``$connect``
handler do there: check the query string's token, give the connection an id and run a
``$connect`` hook that accepts it.

Run: ``python -m benchmarks.raw_server --port 9000 [--routes | --authorize]``; stops on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal

from aiohttp import WSMsgType, web


__all__ = ["main"]

CONNECTIONS: web.AppKey[dict[str, web.WebSocketResponse]] = web.AppKey("connections", dict)
TOKEN = "bench"
"""The token ``apps/handlers.py``'s authorizers accept."""


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Upgrade, then send every text message straight back."""
    ws = web.WebSocketResponse(autoping=True, compress=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def authorize(request: web.Request) -> str | None:
    """The REQUEST authorizer's work: the query string's token must match; the principal."""
    query = request.query
    if query.get("token") != TOKEN:
        return None
    return query.get("user", "bench")


async def on_connect(connection_id: str, principal: str) -> bool:
    """``$connect``'s work in ``apps/handlers.py``: accept the connection."""
    return True


async def authorized_echo(request: web.Request) -> web.StreamResponse:
    """Token, connection id and ``$connect`` before the upgrade (401/403 if refused), then
    echo as ``echo`` does: the raw side of the connection-life scenario."""
    principal = await authorize(request)
    if principal is None:
        return web.Response(status=401)
    connection_id = base64.urlsafe_b64encode(os.urandom(11)).decode()
    if not await on_connect(connection_id, principal):
        return web.Response(status=403)
    return await echo(request)


async def routed(request: web.Request) -> web.WebSocketResponse:
    """Echo, plus the two actions the management and fan-out scenarios use."""
    ws = web.WebSocketResponse(autoping=True, compress=False)
    await ws.prepare(request)
    connections = request.app[CONNECTIONS]
    connection_id = base64.urlsafe_b64encode(os.urandom(11)).decode()
    connections[connection_id] = ws
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            data: str = msg.data
            if data.startswith('{"action":"whoami"'):
                await ws.send_str(connection_id)
            elif data.startswith('{"action":"fanout"'):
                for other in list(connections.values()):
                    if not other.closed:
                        await other.send_str(data)
            else:
                await ws.send_str(data)
    finally:
        connections.pop(connection_id, None)
    return ws


async def post_to_connection(request: web.Request) -> web.Response:
    """``POST @connections/{id}``: 200 once the frame is written, 410 for an unknown id."""
    ws = request.app[CONNECTIONS].get(request.match_info["id"])
    if ws is None or ws.closed:
        return web.Response(status=410)
    await ws.send_str((await request.read()).decode())
    return web.Response(status=200)


def make_app(stage: str, routes: bool, authorized: bool = False) -> web.Application:
    """The application: echo only, echo behind a token and ``$connect``, or echo with
    whoami, fan-out and POST."""
    app = web.Application()
    app[CONNECTIONS] = {}
    app.router.add_get(f"/{stage}", routed if routes else authorized_echo if authorized else echo)
    app.router.add_post(f"/{stage}/@connections/{{id}}", post_to_connection)
    return app


async def serve(host: str, port: int, stage: str, routes: bool, authorized: bool) -> None:
    """Serve until SIGTERM or SIGINT."""
    app = make_app(stage, routes, authorized)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"raw server on {host}:{port}/{stage}", flush=True)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    """Parse the command line and serve on uvloop, as ``wsgate serve`` does."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--routes", action="store_true", help="whoami, fan-out and POST")
    parser.add_argument(
        "--authorize", action="store_true", help="token check and $connect before the upgrade"
    )
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port, args.stage, args.routes, args.authorize))


if __name__ == "__main__":
    main()

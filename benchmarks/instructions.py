"""Instructions per round trip, counted by callgrind: a cost that a noisy machine cannot blur.

``python -m benchmarks.instructions [--against REV]`` runs a gateway and a client in one
process under ``valgrind --tool=callgrind``, once with ``--short`` and once with ``--long``
sequential round trips through a two-way route, and reports the difference divided by
the extra round trips: the instructions one round trip costs (the client's share
included, the same for every revision). Python's hash seed is fixed, so two runs of the
same code agree within a few thousand instructions in four billion. ``--against REV``
measures that git revision's ``src/`` the same way, in the same run.

Seconds are measured by ``python -m benchmarks``; this says whether a change made the hot
path do more work, which seconds on a shared two-core machine cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROUTES = {"async": "handlers:echo", "def": "handlers:echo_sync"}
BOTO3 = "boto3"
"""A ``def`` route answering each message with boto3's ``post_to_connection`` to its own
gateway (``handlers:post_back``): what a handler's boto3 round trip costs, botocore's
share included."""
POSTS = ("post", "raw-post")
"""Management calls, one after another: ``POST /@connections/{id}`` on one kept-alive HTTP
connection, each answered and its frame read by the WebSocket client it names."""
LIVES = ("life", "def-life", "raw-life", "bare-life")
"""Whole connection lives, one after another: wsgate with the async authorizer, ``$connect``
and route of ``configs/life-async.yaml``, the same with ``def`` handlers
(``configs/life-sync.yaml``: the authorizer and ``$connect`` in one trip to the handler
threads), the raw aiohttp server doing the same, and the bare wire layer (no checks; with
the client's share, the floor of the others)."""
_LIFE_HANDLERS = {
    "life": ("handlers:authorize", "handlers:connect", "handlers:echo"),
    "def-life": ("handlers:authorize_sync", "handlers:connect_sync", "handlers:echo_sync"),
}
BODY = b'{"action": "echo", "data": "' + b"x" * 60 + b'"}'
_BOTO3_BODY = b'{"action": "postback", "data": "' + b"x" * 60 + b'"}'
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _masked(body: bytes) -> bytes:
    key = b"\x01\x02\x03\x04"
    return bytes((0x81, 0x80 | len(body))) + key + bytes(b ^ key[i % 4] for i, b in enumerate(body))


def _upgrade(target: str) -> bytes:
    """A client's upgrade request for ``target``, with a fresh key."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _round_trips(count: int, route: str) -> None:
    """Serve the route on a free port and send it ``count`` messages, one at a time: the
    echo route answers each, and for ``BOTO3`` the ``postback`` handler with boto3."""
    from wsgate.config.model import GatewayConfig
    from wsgate.server.gateway import build_gateway
    from wsgate.server.inprocess import served_count
    from wsgate.server.runner import GatewayServer

    if route == BOTO3:
        routes: dict[str, Any] = {"postback": "handlers:post_back"}
        body = _BOTO3_BODY
    else:
        routes = {"echo": {"handler": ROUTES[route], "response": True}}
        body = BODY
    config = GatewayConfig.model_validate(
        {
            "api": {"name": "instructions", "stage": "bench"},
            "server": {"host": "127.0.0.1", "port": 0},
            "handlers": {"path": str(HERE / "apps")},
            "routes": routes,
        }
    )
    server = GatewayServer(build_gateway(config))
    await server.start()
    # Read by post_back at each call; the port is known only now.
    os.environ["BENCH_MANAGEMENT_URL"] = f"http://127.0.0.1:{server.port}/bench"
    served = served_count()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(_upgrade("/bench"))
    await reader.readuntil(b"\r\n\r\n")
    frame, reply = _masked(body), 2 + len(body)
    for _ in range(count):
        writer.write(frame)
        if (await reader.readexactly(reply))[2:] != body:
            raise RuntimeError("the answer came back wrong")
    if route == BOTO3 and served_count() - served < count:
        raise RuntimeError("the boto3 calls went over HTTP, not in process")
    writer.close()
    await server.stop()


async def _raw_server(
    routes: bool, authorized: bool
) -> tuple[int, Callable[[], Coroutine[Any, Any, None]]]:
    """The raw aiohttp server of ``benchmarks.raw_server`` on a free port; its stop."""
    from aiohttp import web

    from benchmarks.raw_server import make_app

    runner = web.AppRunner(make_app("bench", routes=routes, authorized=authorized))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner.addresses[0][1], runner.cleanup


# Every life comes from one address; a revision older than these settings had no limits.
_NO_PER_IP_LIMITS = {"max_connections_per_ip": None, "connection_rate_per_ip": None}


async def _lives(count: int, server: str) -> None:
    """Serve the life scenario on a free port and live ``count`` connections through it, one
    at a time: connect, upgrade with the token, one two-way message, close handshake."""
    if server == "bare-life":
        from benchmarks.bare_server import BareEcho

        listener = await asyncio.get_running_loop().create_server(BareEcho, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]

        async def stop() -> None:
            listener.close()

    elif server == "raw-life":
        port, stop = await _raw_server(routes=False, authorized=True)
    else:
        from wsgate.config.model import GatewayConfig, ServerSettings
        from wsgate.server.gateway import build_gateway
        from wsgate.server.runner import GatewayServer

        authorize, connect, echo = _LIFE_HANDLERS[server]
        limits = {k: v for k, v in _NO_PER_IP_LIMITS.items() if k in ServerSettings.model_fields}
        config = GatewayConfig.model_validate(
            {
                "api": {"name": "instructions", "stage": "bench"},
                "server": {"host": "127.0.0.1", "port": 0, **limits},
                "handlers": {"path": str(HERE / "apps")},
                "authorizer": {
                    "type": "request",
                    "handler": authorize,
                    "identity_source": ["route.request.querystring.token"],
                },
                "routes": {"$connect": connect, "echo": {"handler": echo, "response": True}},
            }
        )
        gateway = GatewayServer(build_gateway(config))
        await gateway.start()
        port, stop = gateway.port, gateway.stop
    frame, reply = _masked(BODY), 2 + len(BODY)
    close = bytes((0x88, 0x82)) + b"\x01\x02\x03\x04" + bytes((0x03 ^ 1, 0xE8 ^ 2))
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_upgrade("/bench?token=bench"))
        if not (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101"):
            raise RuntimeError("the upgrade was refused")
        writer.write(frame)
        if (await reader.readexactly(reply))[2:] != BODY:
            raise RuntimeError("the echo came back wrong")
        writer.write(close)
        if (await reader.readexactly(2))[0] != 0x88:
            raise RuntimeError("no close frame came back")
        await reader.read()  # the server closes the TCP connection
        writer.close()
    await stop()


async def _posts(count: int, server: str) -> None:
    """Serve the POST scenario on a free port and make ``count`` POSTs through it."""
    if server == "raw-post":
        port, stop = await _raw_server(routes=True, authorized=False)
    else:
        from wsgate.config.model import GatewayConfig
        from wsgate.server.gateway import build_gateway
        from wsgate.server.runner import GatewayServer

        config = GatewayConfig.model_validate(
            {
                "api": {"name": "instructions", "stage": "bench"},
                "server": {"host": "127.0.0.1", "port": 0},
                "handlers": {"path": str(HERE / "apps")},
                "routes": {"whoami": {"handler": "handlers:whoami", "response": True}},
            }
        )
        gateway = GatewayServer(build_gateway(config))
        await gateway.start()
        port, stop = gateway.port, gateway.stop
    ws_reader, ws_writer = await asyncio.open_connection("127.0.0.1", port)
    ws_writer.write(_upgrade("/bench"))
    await ws_reader.readuntil(b"\r\n\r\n")
    ws_writer.write(_masked(b'{"action":"whoami"}'))
    length = (await ws_reader.readexactly(2))[1]
    connection_id = (await ws_reader.readexactly(length)).decode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"x" * 60
    post = (
        f"POST /bench/@connections/{connection_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(count):
        writer.write(post)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the POST was answered {head[:12]!r}")
        sent = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(sent)
        if (await ws_reader.readexactly(2 + len(body)))[2:] != body:
            raise RuntimeError("the POSTed frame came wrong")
    writer.close()
    ws_writer.close()
    await stop()


def _instructions(src: Path, route: str, count: int) -> int:
    """Instructions of one whole run (start, ``count`` round trips, stop)."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(src)}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--run",
        route,
        str(count),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=1800)
    match = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind run failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    return int(match.group(1))


def per_round_trip(src: Path, route: str, short: int, long: int) -> float:
    """Instructions one round trip costs with the code in ``src``."""
    return (_instructions(src, route, long) - _instructions(src, route, short)) / (long - short)


def _export(revision: str, into: Path) -> Path:
    """``src/`` of a git revision, written under ``into``."""
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also measure this git revision")
    parser.add_argument(
        "--route", choices=[*sorted(ROUTES), *LIVES, *POSTS, BOTO3], action="append"
    )
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=1100)
    parser.add_argument("--run", nargs=2, metavar=("ROUTE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:  # inside valgrind
        import uvloop

        route, count = args.run[0], int(args.run[1])
        if route in LIVES:
            uvloop.run(_lives(count, route))
        elif route in POSTS:
            uvloop.run(_posts(count, route))
        else:
            uvloop.run(_round_trips(count, route))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wsgate-instructions-") as folder:
        sources = {"this tree": ROOT / "src"}
        if args.against:
            sources[args.against] = _export(args.against, Path(folder))
        for route in args.route or sorted(ROUTES):
            figures = {
                name: per_round_trip(src, route, args.short, args.long)
                for name, src in sources.items()
            }
            for name, value in figures.items():
                print(f"{route:5} route, {name:>12}: {value:>9,.0f} instructions per round trip")
            if args.against:
                ratio = figures["this tree"] / figures[args.against]
                print(f"{route:5} route, this tree / {args.against}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

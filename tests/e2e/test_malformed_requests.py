"""Malformed and smuggling-shaped requests against a running gateway, on the plain and on
the TLS listener.

Each case is named, with its exact bytes and the status that must answer it. The front
door must answer it (never leave it hanging), close the connection, and let nothing of it
reach a handler or the registry: a client connected beforehand (the victim) gets nothing
of a request hidden inside another, which the cases post to it as ``SMUGGLED``. Control
cases show that well-formed requests of the same shapes still work, so the corpus cannot
pass by refusing everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway
from tests.e2e.listeners import Listener, listener_of
from tests.e2e.test_wire import (
    ACCEPT,
    Response,
    connect_ids,
    read_eof,
    read_response,
    upgrade_head,
)


# Building blocks of the cases. `{victim}` is replaced by the victim's connectionId.

UPGRADE = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)
HOST = b"Host: 127.0.0.1\r\n"
SMUGGLED = (
    b"POST /dev/@connections/{victim} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Length: 8\r\n\r\nSMUGGLED"
)
POST = b"POST /dev/@connections/{victim} HTTP/1.1\r\n"
NOBODY = b"POST /dev/@connections/bm9ib2R5 HTTP/1.1\r\n"  # a connectionId no one has
VERSION_13 = {"sec-websocket-version": "13"}


def with_upgrade(fields: bytes = b"", request_line: bytes = b"GET /dev HTTP/1.1") -> bytes:
    """An upgrade request with ``fields`` between its Host and its upgrade fields."""
    return request_line + b"\r\n" + HOST + fields + UPGRADE + b"\r\n"


@dataclass(frozen=True)
class Case:
    wire: bytes
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    """Headers the answer must carry (lower-cased names), beyond Connection: close."""


def case(name: str, wire: bytes, status: int, headers: dict[str, str] | None = None) -> object:
    return pytest.param(Case(wire, status, headers or {}), id=name)


MALFORMED = [
    # The request line (RFC 9112 §3)
    case("http-2.0", with_upgrade(request_line=b"GET /dev HTTP/2.0"), 400),
    case("http-1.2", with_upgrade(request_line=b"GET /dev HTTP/1.2"), 400),
    case("lowercase-http-name", b"GET /dev http/1.1\r\n" + HOST + UPGRADE + b"\r\n", 400),
    case("http-0.9", b"GET /dev\r\n\r\n", 400),
    case("two-spaces-after-method", with_upgrade(request_line=b"GET  /dev HTTP/1.1"), 400),
    case("tab-after-method", with_upgrade(request_line=b"GET\t/dev HTTP/1.1"), 400),
    case("space-after-version", with_upgrade(request_line=b"GET /dev HTTP/1.1 "), 400),
    case("space-before-method", with_upgrade(request_line=b" GET /dev HTTP/1.1"), 400),
    case("nul-in-target", with_upgrade(request_line=b"GET /d\x00ev HTTP/1.1"), 400),
    case("space-in-target", with_upgrade(request_line=b"GET /dev /x HTTP/1.1"), 400),
    case("non-ascii-target", with_upgrade(request_line="GET /dév HTTP/1.1".encode()), 400),
    case(
        "absolute-form-post",
        b"POST http://127.0.0.1/dev/@connections/{victim} HTTP/1.1\r\n"
        + HOST
        + b"Content-Length: 8\r\n\r\nSMUGGLED",
        400,
    ),
    case("asterisk-form", b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    case("authority-form-connect", b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    case("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    # Not HTTP at all: a TLS ClientHello's first bytes, answered at once, not at the timeout.
    case("tls-client-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    # Field lines (RFC 9112 §5, RFC 9110 §5.5)
    case("nul-in-header-name", with_upgrade(b"X-A\x00b: 1\r\n"), 400),
    case("ctl-in-header-name", with_upgrade(b"X-\x01: 1\r\n"), 400),
    case("space-in-header-name", with_upgrade(b"X Forwarded-For: 1\r\n"), 400),
    case(
        "space-before-colon", b"GET /dev HTTP/1.1\r\nHost : 127.0.0.1\r\n" + UPGRADE + b"\r\n", 400
    ),
    case(
        "tab-before-colon", b"GET /dev HTTP/1.1\r\nHost\t: 127.0.0.1\r\n" + UPGRADE + b"\r\n", 400
    ),
    case("empty-header-name", with_upgrade(b": x\r\n"), 400),
    case("line-without-colon", with_upgrade(b"X-No-Colon\r\n"), 400),
    case("bare-cr-in-value", with_upgrade(b"X-A: a\rb\r\n"), 400),
    case(
        "bare-lf-in-value-hiding-a-content-length",
        POST + HOST + b"X-A: a\nContent-Length: 8\r\n\r\nSMUGGLED",
        400,
    ),
    case("nul-in-value", with_upgrade(b"X-A: a\x00b\r\n"), 400),
    case("del-in-value", with_upgrade(b"X-A: a\x7fb\r\n"), 400),
    case(
        "vertical-tab-before-chunked",
        NOBODY + HOST + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    case("obs-fold", with_upgrade(b"X-A: a\r\n b\r\n"), 400),
    case("obs-fold-tab", with_upgrade(b"X-A: a\r\n\tb\r\n"), 400),
    case(
        "obs-fold-hiding-content-length",
        POST + HOST + b"X-A: a\r\n Content-Length: 8\r\n\r\nSMUGGLED",
        400,
    ),
    case(
        "whitespace-before-first-field",
        b"GET /dev HTTP/1.1\r\n Host: 127.0.0.1\r\n" + UPGRADE + b"\r\n",
        400,
    ),
    case(
        "nul-hidden-content-length",
        POST + HOST + b"Content-Length\x00: 0\r\nContent-Length: 8\r\n\r\nSMUGGLED",
        400,
    ),
    # Line endings (RFC 9112 §2.2): answered at once, never left to the timeout.
    case("lf-only-upgrade", with_upgrade().replace(b"\r\n", b"\n"), 400),
    case(
        "lf-only-post",
        (POST + HOST + b"Content-Length: 8\r\n\r\n").replace(b"\r\n", b"\n") + b"SMUGGLED",
        400,
    ),
    case("lf-after-request-line", b"GET /dev HTTP/1.1\n" + HOST + UPGRADE + b"\r\n", 400),
    case("lf-ending-the-head", b"GET /dev HTTP/1.1\r\n" + HOST + UPGRADE + b"\n", 400),
    case("cr-only", with_upgrade().replace(b"\r\n", b"\r"), 400),
    case("head-over-16k", upgrade_head(extra=("X-Big: " + "a" * 17_000,)), 431),
    # Host (RFC 9112 §3.2)
    case("missing-host-upgrade", b"GET /dev HTTP/1.1\r\n" + UPGRADE + b"\r\n", 400),
    case("missing-host-post", POST + b"Content-Length: 8\r\n\r\nSMUGGLED", 400),
    case("duplicate-host", with_upgrade(HOST), 400),
    case(
        "duplicate-host-other-case",
        POST + HOST + b"host: evil.example\r\nContent-Length: 8\r\n\r\nSMUGGLED",
        400,
    ),
    case(
        "host-with-a-path",
        b"GET /dev HTTP/1.1\r\nHost: 127.0.0.1/evil\r\n" + UPGRADE + b"\r\n",
        400,
    ),
    case(
        "host-with-userinfo", b"GET /dev HTTP/1.1\r\nHost: a@127.0.0.1\r\n" + UPGRADE + b"\r\n", 400
    ),
    # HTTP/1.0 (RFC 6455 §4.1: an upgrade is HTTP/1.1; RFC 9112 §6.1: no chunked)
    case("http-1.0-upgrade", with_upgrade(request_line=b"GET /dev HTTP/1.0"), 400, VERSION_13),
    case(
        "http-1.0-chunked",
        POST.replace(b"1.1", b"1.0")
        + HOST
        + b"Transfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        400,
    ),
    # Bodies (RFC 9112 §6): where one ends must never be a guess.
    case(
        "upgrade-with-a-body-hiding-a-post",
        b"GET /dev HTTP/1.1\r\n"
        + HOST
        + UPGRADE
        + b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)
        + SMUGGLED,
        400,
    ),
    case(
        "upgrade-with-a-chunked-body",
        b"GET /dev HTTP/1.1\r\n"
        + HOST
        + UPGRADE
        + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        + SMUGGLED,
        400,
    ),
    case(
        "cl-te",
        NOBODY
        + HOST
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        + SMUGGLED,
        400,
    ),
    case(
        "te-cl",
        NOBODY
        + HOST
        + b"transfer-encoding: Chunked\r\ncontent-length: 4\r\n\r\n97\r\n"
        + SMUGGLED
        + b"\r\n0\r\n\r\n",
        400,
    ),
    case(
        "duplicate-content-length",
        POST + HOST + b"Content-Length: 8\r\nContent-Length: 8\r\n\r\nSMUGGLED",
        400,
    ),
    case(
        "differing-content-lengths",
        NOBODY
        + HOST
        + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
        + SMUGGLED,
        400,
    ),
    case("content-length-list", POST + HOST + b"Content-Length: 8, 8\r\n\r\nSMUGGLED", 400),
    case("content-length-plus", POST + HOST + b"Content-Length: +8\r\n\r\nSMUGGLED", 400),
    case("content-length-negative", NOBODY + HOST + b"Content-Length: -1\r\n\r\n" + SMUGGLED, 400),
    case("content-length-hex", POST + HOST + b"Content-Length: 0x8\r\n\r\nSMUGGLED", 400),
    # 2**64 + 8: a parser keeping 64 bits would read 8.
    case(
        "content-length-overflow",
        POST + HOST + b"Content-Length: 18446744073709551624\r\n\r\nSMUGGLED",
        400,
    ),
    case(
        "chunked-not-last",
        NOBODY + HOST + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    case("identity-coding", NOBODY + HOST + b"Transfer-Encoding: identity\r\n\r\n" + SMUGGLED, 400),
    case(
        "xchunked", NOBODY + HOST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 400
    ),
    case(
        "chunked-twice",
        NOBODY
        + HOST
        + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        + SMUGGLED,
        400,
    ),
    case(
        "quoted-chunked",
        NOBODY + HOST + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n' + SMUGGLED,
        400,
    ),
    case(
        "gzip-then-chunked",
        POST + HOST + b"Transfer-Encoding: gzip, chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        501,
    ),
    # The WebSocket handshake (RFC 6455 §4.2.1)
    case("duplicate-upgrade", with_upgrade(b"Upgrade: websocket\r\n"), 400, VERSION_13),
    case(
        "duplicate-key",
        b"GET /dev HTTP/1.1\r\n"
        + HOST
        + UPGRADE
        + b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n",
        400,
        VERSION_13,
    ),
    case("duplicate-version", with_upgrade(b"Sec-WebSocket-Version: 8\r\n"), 400, VERSION_13),
    # Found by the fuzz suite: a non-ASCII byte in the key ended the handshake's task with
    # an exception, and the connection was held open with no answer.
    case(
        "key-with-a-non-ascii-byte",
        b"GET /dev HTTP/1.1\r\n"
        + HOST
        + UPGRADE.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"\xe4GhlIHNhbXBsZSBub25jZQ==")
        + b"\r\n",
        400,
        VERSION_13,
    ),
    case(
        "version-8",
        b"GET /dev HTTP/1.1\r\n" + HOST + UPGRADE.replace(b": 13", b": 8") + b"\r\n",
        400,
        VERSION_13,
    ),
    case(
        "connection-notupgradeable",
        b"GET /dev HTTP/1.1\r\n"
        + HOST
        + UPGRADE.replace(b"Connection: Upgrade", b"Connection: notupgradeable")
        + b"\r\n",
        400,
        VERSION_13,
    ),
    case(
        "connection-upgrade-in-a-longer-token",
        b"GET /dev HTTP/1.1\r\n"
        + HOST
        + UPGRADE.replace(b"Connection: Upgrade", b"Connection: keep-alive-upgrade")
        + b"\r\n",
        400,
        VERSION_13,
    ),
    case(
        "no-upgrade-field",
        b"GET /dev HTTP/1.1\r\n" + HOST + b"\r\n",
        426,
        {"upgrade": "websocket", **VERSION_13},
    ),
    case(
        "upgrade-to-another-protocol",
        b"GET /dev HTTP/1.1\r\n" + HOST + UPGRADE.replace(b"websocket", b"h2c") + b"\r\n",
        426,
        {"upgrade": "websocket", **VERSION_13},
    ),
]


# The listeners


@pytest.fixture(params=["plain", "tls"])
async def listener(request: pytest.FixtureRequest, gateway: RunningGateway) -> Listener:
    return listener_of(gateway, request.param)


@pytest.fixture
async def victim(gateway: RunningGateway) -> AsyncIterator[tuple[ClientConnection, str]]:
    """A connected client, and its connectionId: what a smuggled request would reach."""
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        yield ws, connection_id


async def post_raw(port: int, connection_id: str, data: bytes) -> Response:
    """A well-formed management POST on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /dev/@connections/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (connection_id.encode(), len(data), data)
        )
        return await read_response(reader)
    finally:
        writer.transport.abort()


async def assert_untouched(gateway: RunningGateway, victim: tuple[ClientConnection, str]) -> None:
    """Nothing reached the victim, a handler or the registry since the victim connected."""
    ws, connection_id = victim
    # Posts reach a client in order: were anything smuggled to it, it would come first.
    assert (await post_raw(gateway.port, connection_id, b"control")).status == 200
    assert await asyncio.wait_for(ws.recv(), 5) == "control"
    assert [e.get("requestContext", {}).get("routeKey") for e in handlers.EVENTS] == ["$connect"]
    assert [c.connection_id for c in gateway.server.gateway.registry.local_connections()] == [
        connection_id
    ]


# The corpus


@pytest.mark.parametrize("bad", MALFORMED)
async def test_a_malformed_request_is_refused_and_closed_and_runs_nothing(
    gateway: RunningGateway,
    listener: Listener,
    victim: tuple[ClientConnection, str],
    bad: Case,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsgate.handshake")
    async with listener.connect() as (reader, writer):
        writer.write(bad.wire.replace(b"{victim}", victim[1].encode()))
        await writer.drain()
        response = await read_response(reader)
        assert response.status_line == f"HTTP/1.1 {bad.status} {HTTPStatus(bad.status).phrase}"
        assert response.headers["connection"] == "close"
        for name, value in bad.headers.items():
            assert response.headers[name] == value
        if bad.status != 501:
            response.json_message()
        assert await read_eof(reader) == b""
    await assert_untouched(gateway, victim)
    # One line of log says why.
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert str(bad.status) in refusals[0].getMessage()


async def test_a_malformed_request_behind_a_good_one_is_refused_after_it(
    gateway: RunningGateway, listener: Listener, victim: tuple[ClientConnection, str]
) -> None:
    """Pipelined: the good call is answered, then the bad one refused; what it hid is not
    executed."""
    wire = (
        b"GET /dev/@connections/bm9ib2R5 HTTP/1.1\r\n"
        + HOST
        + b"\r\n"
        + NOBODY
        + HOST
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        + SMUGGLED
    ).replace(b"{victim}", victim[1].encode())
    async with listener.connect() as (reader, writer):
        writer.write(wire)
        assert (await read_response(reader)).status == 410
        refused = await read_response(reader)
        assert refused.status == 400
        assert refused.headers["connection"] == "close"
        assert await read_eof(reader) == b""
    await assert_untouched(gateway, victim)


async def test_a_malformed_request_written_in_pieces_is_refused(
    gateway: RunningGateway, listener: Listener, victim: tuple[ClientConnection, str]
) -> None:
    """The bare LF arrives in a later write than the request line."""
    async with listener.connect() as (reader, writer):
        for piece in (b"GET /dev HTTP/1.1\r\n", HOST, b"Upgrade: websocket\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.03)
        assert (await read_response(reader)).status == 400
        assert await read_eof(reader) == b""
    await assert_untouched(gateway, victim)


# Controls: the same shapes, well formed, still work.


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(upgrade_head(), id="plain"),
        pytest.param(upgrade_head(extra=("Content-Length: 0",)), id="content-length-0"),
        pytest.param(
            upgrade_head().replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
            id="connection-list",
        ),
        pytest.param(
            upgrade_head().replace(b"Connection: Upgrade", b"connection:Upgrade \t"),
            id="no-and-trailing-whitespace",
        ),
        pytest.param(b"\r\n" + upgrade_head(), id="empty-line-first"),
        pytest.param(upgrade_head(extra=("X-Tab: a\tb",)), id="tab-in-a-value"),
        pytest.param(
            upgrade_head().replace(b"Host: 127.0.0.1", b"Host: [::1]:443"), id="ipv6-host"
        ),
    ],
)
async def test_a_good_upgrade_is_101(listener: Listener, wire: bytes) -> None:
    async with listener.connect() as (reader, writer):
        writer.write(wire)
        response = await read_response(reader)
        assert response.status_line == "HTTP/1.1 101 Switching Protocols"
        assert response.headers["sec-websocket-accept"] == ACCEPT
    assert len(handlers.events_for("$connect")) == 1


async def test_header_values_reach_connect_as_sent(listener: Listener) -> None:
    async with listener.connect() as (reader, writer):
        writer.write(upgrade_head(extra=("X-Name: \t Jürgen Müller ", "X-Tab: a\tb")))
        assert (await read_response(reader)).status == 101
    (event,) = handlers.events_for("$connect")
    assert event["headers"]["X-Name"] == "Jürgen Müller"
    assert event["headers"]["X-Tab"] == "a\tb"


async def test_a_good_management_post_is_delivered(
    listener: Listener, victim: tuple[ClientConnection, str]
) -> None:
    ws, connection_id = victim
    async with listener.connect() as (reader, writer):
        writer.write(
            (POST + HOST + b"Content-Length: 5\r\n\r\nhello").replace(
                b"{victim}", connection_id.encode()
            )
        )
        response = await read_response(reader)
        assert response.status == 200
        # HTTP/1.1 stays open: a second call on the same connection is answered.
        writer.write(NOBODY + HOST + b"Content-Length: 2\r\n\r\nhi")
        assert (await read_response(reader)).status == 410
    assert await asyncio.wait_for(ws.recv(), 5) == "hello"


async def test_a_good_chunked_post_is_delivered(
    listener: Listener, victim: tuple[ClientConnection, str]
) -> None:
    ws, connection_id = victim
    async with listener.connect() as (reader, writer):
        writer.write(
            (POST + HOST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").replace(
                b"{victim}", connection_id.encode()
            )
        )
        assert (await read_response(reader)).status == 200
    assert await asyncio.wait_for(ws.recv(), 5) == "hello"


async def test_a_post_to_no_one_is_410(listener: Listener) -> None:
    async with listener.connect() as (reader, writer):
        writer.write(NOBODY + HOST + b"Content-Length: 2\r\nConnection: close\r\n\r\nhi")
        response = await read_response(reader)
        assert response.status == 410
        assert orjson.loads(response.body) == {"message": None}
        assert await read_eof(reader) == b""


async def test_http_1_0_is_closed_after_its_answer_unless_kept_alive(listener: Listener) -> None:
    get = b"GET /dev/@connections/bm9ib2R5 HTTP/1.0\r\n\r\n"  # HTTP/1.0 need not send Host
    async with listener.connect() as (reader, writer):
        writer.write(get)
        response = await read_response(reader)
        assert response.status == 410
        assert await read_eof(reader) == b""
    keep = b"GET /dev/@connections/bm9ib2R5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    async with listener.connect() as (reader, writer):
        writer.write(keep)
        first = await read_response(reader)
        assert first.status == 410
        assert first.headers["connection"].lower() == "keep-alive"
        writer.write(get)
        assert (await read_response(reader)).status == 410
        assert await read_eof(reader) == b""

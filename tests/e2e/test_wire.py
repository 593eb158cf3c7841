"""The bytes on the wire: frames behind the upgrade, control frames, protocol violations,
refused upgrade requests, and requests split across TCP writes or sharing a connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway, wait_for


EVENT_LOOPS = ("asyncio", "uvloop")
"""Each test on both: ``wsgate serve`` runs on uvloop, whose sockets behave otherwise."""


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's answer to KEY
AUTHORIZER = {
    "type": "request",
    "handler": "tests.e2e.handlers:authorizer",
    "identity_source": ["route.request.querystring.token"],
}
ECHO = '{"action": "echo", "n": 1}'


# Raw HTTP and frames


def upgrade_head(
    target: str = "/dev",
    *,
    request_line: str | None = None,
    key: str = KEY,
    version: str = "13",
    extra: tuple[str, ...] = (),
    end: bool = True,
) -> bytes:
    """An upgrade request head as a client writes it; ``end=False`` leaves off the blank
    line that ends it."""
    lines = [
        request_line or f"GET {target} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *extra,
    ]
    return ("\r\n".join(lines) + ("\r\n\r\n" if end else "\r\n")).encode("latin-1")


def client_frame(opcode: Opcode, data: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=mask, extensions=[])


def text(body: str) -> bytes:
    return client_frame(Opcode.TEXT, body.encode())


@dataclass
class Response:
    status_line: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ")[1])

    def json_message(self) -> str:
        """The body, which must be AWS's ``{"message": ...}`` and nothing else."""
        assert self.headers["content-type"].startswith("application/json")
        payload = orjson.loads(self.body)
        assert isinstance(payload, dict) and set(payload) == {"message"}, payload
        message = payload["message"]
        assert isinstance(message, str) and message
        return message


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One HTTP response head, and its body when it declares a length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return Response(status_line, headers, body)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One whole frame from the server: its opcode and payload."""
    first, second = await asyncio.wait_for(reader.readexactly(2), 5)
    assert first & 0x80, "the gateway does not fragment what it sends"
    assert not second & 0x80, "a server never masks its frames"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 5))
    elif length == 127:
        (length,) = struct.unpack("!Q", await asyncio.wait_for(reader.readexactly(8), 5))
    payload = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return first & 0x0F, payload


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Whatever is left until the server closes the connection."""
    return await asyncio.wait_for(reader.read(), 5)


@contextlib.asynccontextmanager
async def raw_connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.transport.abort()


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, cuts: list[int]) -> None:
    """Write ``data`` cut at the ``cuts`` offsets, one TCP write per piece, with pauses."""
    bounds = [0, *cuts, len(data)]
    for start, stop in zip(bounds, bounds[1:], strict=False):
        writer.write(data[start:stop])
        await writer.drain()
        await asyncio.sleep(0.03)


def disconnect_ids() -> list[str]:
    return [e["requestContext"]["connectionId"] for e in handlers.events_for("$disconnect")]


def connect_ids() -> list[str]:
    return [e["requestContext"]["connectionId"] for e in handlers.events_for("$connect")]


async def assert_echoes(ws: ClientConnection, body: str = ECHO) -> None:
    await ws.send(body)
    assert await asyncio.wait_for(ws.recv(), 5) == body


# 1. Frames sent before the 101


async def test_frames_sent_before_the_101_are_handled_after_connect(
    gateway_factory: GatewayFactory,
) -> None:
    """One frame in the same write as the upgrade request, one while $connect runs."""
    running = await gateway_factory(
        routes={
            "$connect": "tests.e2e.handlers:slow_connect",  # records, then 0.3 s
            "$disconnect": "tests.e2e.handlers:disconnect",
            "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
        }
    )
    first, second = '{"action": "echo", "n": 1}', '{"action": "echo", "n": "é2"}'
    async with raw_connection(running.port) as (reader, writer):
        writer.write(upgrade_head() + text(first))
        await writer.drain()
        await wait_for(lambda: bool(handlers.events_for("$connect")))
        writer.write(text(second))
        await writer.drain()
        # Nothing is routed before $connect allowed the connection.
        assert handlers.events_for("echo") == []
        response = await read_response(reader)
        assert response.status_line == "HTTP/1.1 101 Switching Protocols"
        assert response.headers["sec-websocket-accept"] == ACCEPT
        assert await read_frame(reader) == (Opcode.TEXT.value, first.encode())
        assert await read_frame(reader) == (Opcode.TEXT.value, second.encode())
        assert [e["body"] for e in handlers.events_for("echo")] == [first, second]
        writer.write(client_frame(Opcode.CLOSE, struct.pack("!H", 1000)))
        assert await read_frame(reader) == (Opcode.CLOSE.value, struct.pack("!H", 1000))
        assert await read_eof(reader) == b""


async def test_frames_behind_a_refused_upgrade_are_never_routed(gateway: RunningGateway) -> None:
    async with raw_connection(gateway.port) as (reader, writer):
        writer.write(upgrade_head("/dev?status=403") + text(ECHO))
        await writer.drain()
        response = await read_response(reader)
        assert response.status == 403
        assert await read_eof(reader) == b""
    await asyncio.sleep(0.05)
    assert len(handlers.events_for("$connect")) == 1
    assert handlers.events_for("echo") == []
    assert handlers.events_for("$disconnect") == []


# 2. and 3. Control frames


@pytest.mark.parametrize("payload", [b"x", b"", bytes(range(125))])
async def test_ping_gets_a_pong_with_its_payload(gateway: RunningGateway, payload: bytes) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        # websockets completes the waiter only on a pong carrying exactly this payload.
        pong = await ws.ping(payload)
        latency = await asyncio.wait_for(pong, 5)
        assert latency >= 0
        await assert_echoes(ws)
        pong = await ws.ping(payload)
        await asyncio.wait_for(pong, 5)
    # Pings are not messages: no route saw them.
    assert len(handlers.events_for("echo")) == 1
    assert handlers.events_for("$default") == []


async def test_fragmented_text_with_a_ping_between_fragments_is_one_message(
    gateway: RunningGateway,
) -> None:
    # The 'é' is split between two frames: only the whole message must be valid UTF-8.
    fragments = [b'{"action": "echo", ', b'"text": "h\xc3', b'\xa9llo"', b"}"]
    body = b"".join(fragments).decode()
    async with websockets.connect(gateway.ws_url()) as ws:
        pongs: list[float] = []

        async def chunks() -> AsyncIterator[bytes]:
            yield fragments[0]
            yield fragments[1]
            # The message is half sent: the ping must be answered all the same.
            pongs.append(await asyncio.wait_for(await ws.ping(b"mid-message"), 5))
            yield fragments[2]
            yield fragments[3]

        await asyncio.wait_for(ws.send(chunks(), text=True), 5)
        assert len(pongs) == 1
        assert await asyncio.wait_for(ws.recv(), 5) == body
        await assert_echoes(ws)
    assert [e["body"] for e in handlers.events_for("echo")] == [body, ECHO]
    assert handlers.events_for("$default") == []


# 4. Protocol violations


def _with_first_byte(frame: bytes, first: int) -> bytes:
    return bytes((first,)) + frame[1:]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        pytest.param(client_frame(Opcode.TEXT, ECHO.encode(), mask=False), 1002, id="unmasked"),
        pytest.param(client_frame(Opcode.TEXT, b'{"a": "\xff\xfe"}'), 1007, id="invalid-utf8"),
        pytest.param(
            client_frame(Opcode.TEXT, b"\xc3", fin=False) + client_frame(Opcode.CONT, b"("),
            1007,
            id="invalid-utf8-across-fragments",
        ),
        pytest.param(_with_first_byte(text(ECHO), 0x83), 1002, id="reserved-data-opcode"),
        pytest.param(_with_first_byte(text(ECHO), 0x8B), 1002, id="reserved-control-opcode"),
        pytest.param(_with_first_byte(text(ECHO), 0xC1), 1002, id="rsv1-without-extension"),
        pytest.param(client_frame(Opcode.CONT, b"x"), 1002, id="continuation-first"),
    ],
)
async def test_a_protocol_violation_fails_only_that_connection(
    gateway: RunningGateway, wire: bytes, code: int
) -> None:
    async with (
        websockets.connect(gateway.ws_url()) as victim,
        websockets.connect(gateway.ws_url()) as bystander,
    ):
        victim_id, bystander_id = connect_ids()
        victim.transport.write(wire)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(victim.recv(), 5)
        # The gateway's close frame carried the code (1006 would mean none came).
        assert victim.protocol.close_rcvd is not None
        assert victim.close_code == code
        await wait_for(lambda: bool(disconnect_ids()))
        # The other connection is untouched.
        await assert_echoes(bystander)
        assert disconnect_ids() == [victim_id]
        assert bystander_id != victim_id
    await wait_for(lambda: len(disconnect_ids()) == 2)
    await asyncio.sleep(0.05)
    assert sorted(disconnect_ids()) == sorted([victim_id, bystander_id])
    # The offending frame reached no route; only the bystander's message did.
    assert [e["requestContext"]["connectionId"] for e in handlers.events_for("echo")] == [
        bystander_id
    ]
    assert handlers.events_for("$default") == []


# 5. Client-initiated close


@pytest.mark.parametrize(("code", "reason"), [(4001, "bye"), (1000, "")])
async def test_the_gateway_answers_a_client_close_with_the_same_code(
    gateway: RunningGateway, code: int, reason: str
) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        await asyncio.wait_for(ws.close(code, reason), 5)
        assert ws.protocol.close_rcvd_then_sent is False  # the client closed first
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.code == code
        assert ws.close_code == code
    await wait_for(lambda: bool(disconnect_ids()))
    await asyncio.sleep(0.05)
    assert len(disconnect_ids()) == 1


# 6. Refused upgrade requests


BAD_UPGRADES = [
    pytest.param(
        upgrade_head("/dev?token=allow", key="not base64 at all!!!!!!!"), 400, id="key-not-base64"
    ),
    pytest.param(
        upgrade_head("/dev?token=allow", key=base64.b64encode(b"k" * 15).decode()),
        400,
        id="key-of-15-bytes",
    ),
    pytest.param(
        # 24 characters, like a good key, but 17 bytes.
        upgrade_head("/dev?token=allow", key=base64.b64encode(b"k" * 17).decode()),
        400,
        id="key-of-17-bytes",
    ),
    pytest.param(upgrade_head("/dev?token=allow", version="8"), 400, id="version-8"),
    pytest.param(upgrade_head(request_line="GET /dev?token=allow HTTP/9.9"), 400, id="http-9.9"),
    pytest.param(upgrade_head(request_line="GET  /dev?token=allow HTTP/1.1"), 400, id="two-spaces"),
    pytest.param(
        upgrade_head("/dev?token=allow", extra=("X-Spaced : 1",)), 400, id="space-before-colon"
    ),
    pytest.param(
        upgrade_head("/dev?token=allow", extra=("X-Big: " + "a" * 17_000,)),
        431,
        id="huge-header-in-one-write",
    ),
]


@pytest.mark.parametrize(("request_bytes", "status"), BAD_UPGRADES)
async def test_bad_upgrade_requests_are_refused_before_the_authorizer(
    gateway_factory: GatewayFactory, request_bytes: bytes, status: int
) -> None:
    running = await gateway_factory(authorizer=AUTHORIZER)
    async with raw_connection(running.port) as (reader, writer):
        writer.write(request_bytes)
        await writer.drain()
        response = await read_response(reader)
        assert response.status == status, response.status_line
        assert response.headers["connection"].lower() == "close"
        response.json_message()
        assert await read_eof(reader) == b""
    await asyncio.sleep(0.05)
    assert handlers.EVENTS == []  # neither the authorizer nor $connect ran
    # Control: the same request done right reaches the authorizer and upgrades.
    async with raw_connection(running.port) as (reader, writer):
        writer.write(upgrade_head("/dev?token=allow"))
        response = await read_response(reader)
        assert response.status == 101
    assert [e.get("type") for e in handlers.EVENTS][:1] == ["REQUEST"]


async def test_a_huge_header_arriving_slowly_is_431(gateway_factory: GatewayFactory) -> None:
    running = await gateway_factory(authorizer=AUTHORIZER)
    head = upgrade_head("/dev?token=allow", extra=("X-Big: " + "a" * 17_000,), end=False)
    async with raw_connection(running.port) as (reader, writer):
        # The head never ends: the gateway must give up once it is past 16 KB.
        await write_in_pieces(writer, head, [4500, 9000, 13500])
        response = await read_response(reader)
        assert response.status_line == "HTTP/1.1 431 Request Header Fields Too Large"
        assert response.headers["connection"].lower() == "close"
        response.json_message()
        assert await read_eof(reader) == b""
    assert handlers.EVENTS == []


# 7. A second request on a kept-alive management connection


async def test_an_upgrade_path_as_second_request_is_426_from_aiohttp(
    gateway: RunningGateway,
) -> None:
    async with raw_connection(gateway.port) as (reader, writer):
        writer.write(
            b"GET /dev/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Connection: keep-alive\r\n\r\n"
        )
        gone = await read_response(reader)
        assert gone.status == 410
        assert gone.headers["x-amzn-errortype"] == "GoneException"
        assert gone.headers.get("connection", "keep-alive").lower() != "close"
        writer.write(b"GET /dev HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
        plain = await read_response(reader)
        assert plain.status == 426
        plain.json_message()
        # An upgrade request there cannot upgrade either: it needs a connection of its own.
        writer.write(upgrade_head())
        upgrade = await read_response(reader)
        assert upgrade.status == 426
        assert "sec-websocket-accept" not in upgrade.headers
    await asyncio.sleep(0.05)
    assert handlers.events_for("$connect") == []


# 8. and 9. Requests split across TCP writes


async def test_a_management_post_split_across_writes_is_delivered(
    gateway: RunningGateway,
) -> None:
    async with websockets.connect(gateway.ws_url()) as ws:
        (connection_id,) = connect_ids()
        request = (
            f"POST /dev/@connections/{connection_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Length: 11\r\nConnection: close\r\n\r\nsplit hello"
        ).encode()
        async with raw_connection(gateway.port) as (reader, writer):
            await write_in_pieces(writer, request, [2, 20, len(request) - 5])
            response = await read_response(reader)
            assert response.status == 200, response.status_line
        assert await asyncio.wait_for(ws.recv(), 5) == "split hello"


@pytest.mark.parametrize("cuts", [[2], [2, 4], [7, 30]], ids=["GE", "GE-T_", "GET_-de"])
async def test_a_management_get_split_across_writes_is_answered(
    gateway: RunningGateway, cuts: list[int]
) -> None:
    """A GET starts like an upgrade; split early, the front door must wait, then hand all
    of it to aiohttp."""
    async with websockets.connect(gateway.ws_url(), user_agent_header="split/1"):
        (connection_id,) = connect_ids()
        request = (
            f"GET /dev/@connections/{connection_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        async with raw_connection(gateway.port) as (reader, writer):
            await write_in_pieces(writer, request, cuts)
            response = await read_response(reader)
        assert response.status == 200, response.status_line
        body = orjson.loads(response.body)
        assert body["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "split/1"}


async def test_an_upgrade_request_split_across_writes_upgrades(gateway: RunningGateway) -> None:
    head = upgrade_head()
    # Cut after "GE", inside the request line, a header, and the final blank line.
    cuts = [2, 9, 40, len(head) - 3, len(head) - 1]
    async with raw_connection(gateway.port) as (reader, writer):
        await write_in_pieces(writer, head, cuts)
        response = await read_response(reader)
        assert response.status_line == "HTTP/1.1 101 Switching Protocols"
        assert response.headers["sec-websocket-accept"] == ACCEPT
        # A frame split across writes too.
        await write_in_pieces(writer, text(ECHO), [1, 3])
        assert await read_frame(reader) == (Opcode.TEXT.value, ECHO.encode())
    assert len(handlers.events_for("$connect")) == 1
    assert [e["body"] for e in handlers.events_for("echo")] == [ECHO]


async def test_messages_sent_before_a_violation_in_the_same_write_are_still_handled(
    gateway: RunningGateway,
) -> None:
    message = '{"action": "echo", "n": "before"}'
    async with raw_connection(gateway.port) as (reader, writer):
        writer.write(upgrade_head())
        assert (await read_response(reader)).status == 101
        writer.write(text(message) + client_frame(Opcode.TEXT, b"unmasked", mask=False))
        assert await read_frame(reader) == (Opcode.TEXT.value, message.encode())
        opcode, payload = await read_frame(reader)
        assert opcode == Opcode.CLOSE.value and payload[:2] == struct.pack("!H", 1002)
        assert await read_eof(reader) == b""
    await wait_for(lambda: len(disconnect_ids()) == 1)
    assert [e["body"] for e in handlers.events_for("echo")] == [message]

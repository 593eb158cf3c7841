"""The plain port's TLS sniffing (``server.tls_sniff``) on both event loops wsgate runs on:
asyncio (the tests' in-process gateways) and uvloop (``wsgate serve``)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
import uvloop

from wsgate.server.tls import make_self_signed, server_context
from wsgate.server.tls_sniff import TlsSniffer


class Answer(asyncio.Protocol):
    """Answers each chunk with what it saw: the scheme it was made for and the bytes."""

    def __init__(self, scheme: str, seen: list[str]) -> None:
        self.scheme = scheme
        self.seen = seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.seen.append(f"{self.scheme} made")

    def data_received(self, data: bytes) -> None:
        self.transport.write(self.scheme.encode() + b":" + data)

    def eof_received(self) -> bool | None:
        self.seen.append(f"{self.scheme} eof")
        return None


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_context(make_self_signed(Path(tmp_path_factory.mktemp("tls"))))


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


Check = Callable[[int, list[str]], Awaitable[None]]


def serve_and(context: ssl.SSLContext, check: Check, *, timeout: float = 5.0) -> Iterator[str]:
    """Run ``check`` against a sniffing listener on each loop; yield each loop's name."""

    async def main() -> None:
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: TlsSniffer(
                lambda: Answer("http", seen), lambda: Answer("https", seen), context, timeout
            ),
            "127.0.0.1",
            0,
        )
        try:
            await check(server.sockets[0].getsockname()[1], seen)
        finally:
            server.close()

    for name, run in (("asyncio", asyncio.run), ("uvloop", uvloop.run)):
        run(main())
        yield name


def test_a_tls_client_gets_tls_with_its_first_bytes_intact(context: ssl.SSLContext) -> None:
    async def check(port: int, seen: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(100), 5) == b"https:GET / HTTP/1.1\r\n\r\n"
        writer.close()
        assert seen[0] == "https made"

    assert list(serve_and(context, check)) == ["asyncio", "uvloop"]


def test_a_plain_client_gets_the_plain_protocol_with_every_byte(context: ssl.SSLContext) -> None:
    async def check(port: int, seen: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(100), 5) == b"http:GET / HTTP/1.1\r\n\r\n"
        writer.close()
        assert seen == ["http made"]

    assert len(list(serve_and(context, check))) == 2


def test_a_silent_client_is_handed_to_the_plain_protocol_after_the_timeout(
    context: ssl.SSLContext,
) -> None:
    async def check(port: int, seen: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.5)
        assert seen == ["http made"]  # its own timeout answers such a client
        writer.write(b"late")
        assert await asyncio.wait_for(reader.read(100), 5) == b"http:late"
        writer.close()

    assert len(list(serve_and(context, check, timeout=0.2))) == 2


def test_a_client_that_leaves_before_a_byte_is_seen_leaving_by_the_plain_protocol(
    context: ssl.SSLContext,
) -> None:
    async def check(port: int, seen: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(10), 5) == b""  # eof_received: None closes
        writer.close()
        assert seen == ["http made", "http eof"]

    assert len(list(serve_and(context, check))) == 2


def test_a_failed_tls_handshake_closes_only_that_connection(context: ssl.SSLContext) -> None:
    async def check(port: int, seen: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x16\x03\x01\x00\x05hello")  # a handshake record, not a ClientHello
        answer = await asyncio.wait_for(reader.read(), 5)  # to EOF: the connection is closed
        assert answer[:1] in (b"", b"\x15")  # nothing, or a TLS alert
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
        writer.write(b"next")
        assert await asyncio.wait_for(reader.read(100), 5) == b"https:next"
        writer.close()

    assert len(list(serve_and(context, check))) == 2

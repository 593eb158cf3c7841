"""A running gateway's listeners as a raw client reaches them, plain or TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tests.e2e.conftest import RunningGateway


@dataclass(frozen=True)
class Listener:
    """One of a running gateway's listeners."""

    port: int
    tls: ssl.SSLContext | None

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.tls, server_hostname="localhost" if self.tls else None
        )
        try:
            yield reader, writer
        finally:
            writer.transport.abort()

    def ws_url(self, query: str) -> str:
        scheme, host = ("wss", "localhost") if self.tls else ("ws", "127.0.0.1")
        return f"{scheme}://{host}:{self.port}/dev?{query}"


def listener_of(gateway: RunningGateway, kind: str) -> Listener:
    """The ``plain`` or ``tls`` listener of ``gateway``, trusting its certificate."""
    if kind == "plain":
        return Listener(gateway.port, None)
    files = gateway.server.tls_files
    assert files is not None and gateway.server.tls_port is not None
    return Listener(gateway.server.tls_port, ssl.create_default_context(cafile=str(files.cert)))

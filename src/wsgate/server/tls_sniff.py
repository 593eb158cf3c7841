"""TLS on the plain port too: a connection that opens with a TLS ClientHello gets TLS.

A handler builds its management endpoint as ``https://{domainName}/{stage}``; without a
TLS listener ``domainName`` names the plain port, and the call used to fail with
``SSL: WRONG_VERSION_NUMBER``. Every TLS connection starts with a handshake record (first
byte 0x16), which no HTTP request does (a method is a token of letters). So the plain
listener reads a new connection's first bytes and then hands the connection on: to the
front door directly, or to the standard library's TLS protocol with the front door above
it, those first bytes (the start of the ClientHello) given to it as if just received.

``loop.start_tls`` cannot serve here: it needs the ClientHello still unread, and under
uvloop (what ``wsgate serve`` runs on) a protocol cannot keep a new connection from being
read (``pause_reading`` in ``connection_made`` is not honoured), so the bytes would be
gone before it started. ``asyncio.sslproto.SSLProtocol`` is what ``create_server(ssl=)``
and ``start_tls`` use on the standard loop; it runs over any transport, uvloop's too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import cast


__all__ = ["TLS_RECORD", "TlsSniffer"]

TLS_RECORD = 0x16
"""The first byte of a TLS handshake record."""

log = logging.getLogger("wsgate.tls")


class TlsSniffer(asyncio.Protocol):
    """A plain listener's connection until its first byte says TLS or not.

    Args:
        plain: the protocol for a plain connection (the front door, ``http``).
        secure: the protocol above TLS (the front door, ``https``).
        context: the server's TLS context.
        timeout: seconds to wait for the first byte, then for the TLS handshake; a
            client silent that long is handed to ``plain``, whose own timeout answers.
    """

    __slots__ = ("_context", "_plain", "_secure", "_timeout", "_timer", "_transport")

    def __init__(
        self,
        plain: Callable[[], asyncio.Protocol],
        secure: Callable[[], asyncio.Protocol],
        context: ssl.SSLContext,
        timeout: float,
    ) -> None:
        self._plain = plain
        self._secure = secure
        self._context = context
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._timeout, self._to_plain, b"")

    def data_received(self, data: bytes) -> None:
        if self._timer is None:
            return  # handed on already: not ours any more
        if data[0] == TLS_RECORD:
            self._to_tls(data)
        else:
            self._to_plain(data)

    def eof_received(self) -> bool | None:
        if self._timer is None:
            return None
        self._stop_waiting()
        protocol = self._hand_to(self._plain())
        return protocol.eof_received()  # the front door sees a client that left

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()  # gone before its first byte

    def _stop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _hand_to(self, protocol: asyncio.Protocol) -> asyncio.Protocol:
        self._transport.set_protocol(protocol)
        protocol.connection_made(self._transport)
        return protocol

    def _to_plain(self, first: bytes) -> None:
        self._stop_waiting()
        if self._transport.is_closing():
            return
        protocol = self._hand_to(self._plain())
        if first:
            protocol.data_received(first)

    def _to_tls(self, first: bytes) -> None:
        self._stop_waiting()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waiter.add_done_callback(_log_failed_handshake)
        # The front door above it gets connection_made once the handshake is done.
        tls = sslproto.SSLProtocol(
            loop,
            self._secure(),
            self._context,
            waiter,
            server_side=True,
            ssl_handshake_timeout=self._timeout,  # type: ignore[arg-type]  # typeshed: int
        )
        self._transport.set_protocol(tls)
        tls.connection_made(self._transport)
        view = memoryview(first)
        while view and not self._transport.is_closing():
            buffer = tls.get_buffer(len(view))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            tls.buffer_updated(size)
            view = view[size:]


def _log_failed_handshake(waiter: asyncio.Future[None]) -> None:
    error = None if waiter.cancelled() else waiter.exception()
    if error is not None:
        log.debug("TLS handshake on the plain port failed: %s", error)

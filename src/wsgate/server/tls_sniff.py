"""TLS on the plain port too: a connection that opens with a TLS ClientHello gets TLS.

A handler builds its management endpoint as ``https://{domainName}/{stage}``; without a
TLS listener ``domainName`` names the plain port, and the call used to fail with
``SSL: WRONG_VERSION_NUMBER``. Every TLS connection starts with a handshake record (first
byte 0x16), which no HTTP request does (a method is a token of letters). So the plain
listener looks at a new connection's first byte without reading it (``MSG_PEEK`` on a
duplicate of the socket, since the transport owns the original in the event loop) and
then hands the connection on: to TLS (``loop.start_tls``, which reads the ClientHello
from the socket as usual) with the front door above it, or straight to the front door.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import cast


__all__ = ["TLS_RECORD", "TlsSniffer"]

TLS_RECORD = 0x16
"""The first byte of a TLS handshake record."""

log = logging.getLogger("wsgate.tls")

_handshakes: set[asyncio.Task[None]] = set()
"""TLS handshakes under way; held so that none is collected before it ends."""


class TlsSniffer(asyncio.Protocol):
    """A plain listener's connection until its first byte says TLS or not.

    Args:
        plain: the protocol for a plain connection (the front door, ``http``).
        secure: the protocol above TLS (the front door, ``https``).
        context: the server's TLS context.
        timeout: seconds to wait for the first byte, then for the TLS handshake; a
            client silent that long is handed to ``plain``, whose own timeout answers.
    """

    __slots__ = ("_context", "_peek", "_plain", "_secure", "_timeout", "_timer", "_transport")

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
        self._peek: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.pause_reading()  # before it ever reads: the first byte stays
        raw = transport.get_extra_info("socket")
        loop = asyncio.get_running_loop()
        try:
            # The loop refuses a reader on the transport's own descriptor: watch a copy.
            self._peek = socket.fromfd(raw.fileno(), raw.family, raw.type)
            self._peek.setblocking(False)
            loop.add_reader(self._peek.fileno(), self._readable)
        except (AttributeError, OSError, RuntimeError, NotImplementedError):
            self._hand_on(tls=False)  # no socket to look at (or no add_reader): plain
            return
        self._timer = loop.call_later(self._timeout, self._hand_on, False)

    def _readable(self) -> None:
        assert self._peek is not None
        try:
            first = self._peek.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            first = b""  # reset: the front door sees it when it reads
        self._hand_on(tls=first == bytes((TLS_RECORD,)))

    def _stop_looking(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        peek, self._peek = self._peek, None
        if peek is not None:
            asyncio.get_running_loop().remove_reader(peek.fileno())
            peek.close()  # the copy only: the connection stays open

    def _hand_on(self, tls: bool) -> None:
        self._stop_looking()
        transport = self._transport
        if transport.is_closing():
            return
        if tls:
            task = asyncio.get_running_loop().create_task(self._start_tls())
            _handshakes.add(task)
            task.add_done_callback(_handshakes.discard)
            return
        protocol = self._plain()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        transport.resume_reading()

    async def _start_tls(self) -> None:
        early = _Early()
        loop = asyncio.get_running_loop()
        try:
            secure = await loop.start_tls(
                self._transport,
                early,
                self._context,
                server_side=True,
                ssl_handshake_timeout=self._timeout,
            )
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as error:
            log.debug("TLS handshake on the plain port failed: %s", error)
            with contextlib.suppress(Exception):
                self._transport.abort()
            return
        if secure is None:  # closed as the handshake ended
            return
        # start_tls leaves connection_made to its caller; bytes that followed the
        # handshake at once were held meanwhile, and are handed on after it.
        protocol = self._secure()
        secure.set_protocol(protocol)
        protocol.connection_made(secure)
        early.hand_on(protocol, secure)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_looking()  # gone while its first byte was awaited


class _Early(asyncio.Protocol):
    """Above TLS until ``start_tls`` returns: holds what arrives, to hand it on in order."""

    __slots__ = ("_data", "_eof")

    def __init__(self) -> None:
        self._data: list[bytes] = []
        self._eof = False

    def data_received(self, data: bytes) -> None:
        self._data.append(data)

    def eof_received(self) -> bool:
        self._eof = True
        return True  # keep the transport open until the real protocol has seen it

    def hand_on(self, protocol: asyncio.Protocol, transport: asyncio.BaseTransport) -> None:
        for data in self._data:
            protocol.data_received(data)
        self._data = []
        if self._eof and not protocol.eof_received():
            transport.close()  # as the transport does when eof_received() is falsy

"""Where every accepted socket starts: upgrades and management calls here, the rest to aiohttp.

The front door reads a connection's requests. Each head is parsed strictly first
(``core.upgrade.parse_head``, ``core.http1.request_framing``): one that two HTTP parsers
could read differently (a proxy in front and this gateway, or this gateway and aiohttp)
is refused with 400 (431 when too long, 501 for a transfer coding nobody here decodes),
logged in one line, and the connection closed, so no request can hide inside another.

A ``GET`` of ``/`` or of one path segment (``/{stage}``) as the first request is a
WebSocket handshake and runs ``server.handshake`` in a task of its own, which then serves
the connection. A management call (``POST``, ``GET`` or ``DELETE`` of another path) in
HTTP/1.1 with a plain ``Content-Length`` body is answered here by
``server.management.perform``, on a kept-alive connection as many times as the client
asks, once ``server.management.check_access`` let it through (the listener's rules: a
signature with ``management.auth: sigv4``, no foreign ``Origin``; with none of them set
the check is one pass over the header names, and no signing work is done). A front door
of a ``management.listen`` listener starts no handshake: every request there is a call.
Anything else (chunked bodies, ``Expect``, HTTP/1.0, a body over the API's limit, other
methods, an upgrade after another request) is handed to aiohttp's request handler with
the bytes read so far, untouched, and never comes back. aiohttp's request and
response objects cost more than the rest of a handshake or a POST.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from aiohttp.http import SERVER_SOFTWARE

from wsgate.core.http1 import Framing, request_framing, response
from wsgate.core.upgrade import (
    MAX_HEAD_BYTES,
    BadRequest,
    RequestHead,
    parse_head,
    partial_head_fault,
    path_segment,
    refusal,
    switching_protocols,
)
from wsgate.integrations.eager import Resumed
from wsgate.server.connection import WebSocketConnection
from wsgate.server.handshake import handshake
from wsgate.server.management import (
    MAX_POST_BYTES,
    OPEN,
    ManagementAccess,
    Reply,
    check_access,
    internal_error,
    perform,
)


if TYPE_CHECKING:
    from wsgate.server.gateway import Gateway, Limits


__all__ = ["FrontDoor"]

log = logging.getLogger("wsgate.handshake")

_MANAGEMENT_METHODS = frozenset(("POST", "GET", "DELETE"))
_END_OF_HEAD = b"\r\n\r\n"
_EMPTY_LINES = re.compile(rb"(?:\r\n)+")
# Bytes a client may send behind its upgrade request before the 101 (its first frames).
_MAX_EARLY = 256 * 1024


class FrontDoor(asyncio.Protocol):
    """A new connection's protocol until its first request says where it goes."""

    __slots__ = (
        "_access",
        "_answered",
        "_buffer",
        "_early",
        "_gateway",
        "_handed_over",
        "_http",
        "_paused",
        "_serving",
        "_started",
        "_timer",
        "_upgrades",
        "lost",
        "scheme",
        "transport",
    )

    def __init__(
        self,
        gateway: Gateway,
        http: Callable[[], asyncio.Protocol],
        scheme: str,
        access: ManagementAccess = OPEN,
        *,
        upgrades: bool = True,
    ) -> None:
        self._gateway = gateway
        self._http = http
        self.scheme = scheme
        self._access = access
        """Who may make management calls on this listener."""
        self._upgrades = upgrades
        """Whether a GET of an upgrade path is a handshake (not on ``management.listen``)."""
        self._buffer = b""
        self._early = b""
        self._started = False
        self._serving = False
        """A management call is being answered; later bytes wait in the buffer."""
        self._handed_over = False
        """The connection belongs to aiohttp now."""
        self._answered = False
        """This connection has had a management call answered."""
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self.lost = False
        """The client went away before the connection was upgraded."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        # Bounds how long a client may take to send its upgrade request.
        self._timer = asyncio.get_running_loop().call_later(
            self._gateway.config.api.handshake_timeout, transport.close
        )

    def data_received(self, data: bytes) -> None:
        if self._started:
            # The handshake is under way; frames sent before the 101 wait for the session.
            self._early += data
            if len(self._early) > _MAX_EARLY and not self._paused:
                self._paused = True
                self.transport.pause_reading()
            return
        self._buffer = self._buffer + data if self._buffer else data
        self._take_requests()

    def _take_requests(self) -> None:
        """Take whole requests from the buffer, one after another (pipelined calls), until
        it runs dry, one must wait for the registry, or the connection changed hands."""
        while self._buffer and not (self._serving or self._started or self._handed_over):
            taken = len(self._buffer)
            self._next_request()
            if len(self._buffer) == taken and not self._serving:
                return  # an incomplete request: wait for more bytes

    def _next_request(self) -> None:
        """Take the next request in the buffer: a handshake, a management call answered
        here, or anything else handed to aiohttp with the bytes read so far; or refuse a
        malformed one."""
        buffer = self._buffer
        if buffer.startswith(b"\r\n"):
            # RFC 9112 §2.2: empty lines before a request line are ignored (some clients
            # end a body with one more CRLF); the loop in _take_requests goes on after them.
            match = _EMPTY_LINES.match(buffer)
            assert match is not None
            self._buffer = buffer[match.end() :]
            return
        end = buffer.find(_END_OF_HEAD)
        if end < 0 or end > MAX_HEAD_BYTES:
            self._incomplete(buffer, end)
            return
        try:
            head = parse_head(buffer[:end])
            framing = request_framing(head)
        except BadRequest as exc:
            self._reject(exc.status, str(exc))
            return
        self._dispatch(head, framing, buffer, end + len(_END_OF_HEAD))

    def _dispatch(
        self, head: RequestHead, framing: Framing, buffer: bytes, body_start: int
    ) -> None:
        """Send a well-formed request where it goes: the handshake, a management call
        answered here, or aiohttp."""
        segment = path_segment(head.path) if self._upgrades else None
        if head.method == "GET" and segment is not None:
            if framing.length != 0:
                # Where its body ends is a guess between parsers; nor has it any meaning.
                self._reject(400, "a body on a GET of an upgrade path")
            elif self._answered:
                # An upgrade needs a connection of its own; aiohttp answers this one.
                self._to_http(buffer)
            else:
                self._start_handshake(head, segment, buffer[body_start:])
            return
        if (
            head.method in _MANAGEMENT_METHODS
            and head.version == "HTTP/1.1"
            and not framing.expect
            and framing.length is not None
            and framing.length <= MAX_POST_BYTES
        ):
            self._management_call(head, framing, buffer, body_start)
            return
        # Chunked, 100-continue, HTTP/1.0, too long, or another method: aiohttp's to answer.
        self._to_http(buffer)

    def _incomplete(self, buffer: bytes, end: int) -> None:
        """A head without its end yet: wait for more bytes unless it is already too
        long (431) or malformed (400), so that it is answered now, not at the timeout."""
        # The slack lets a head of exactly MAX_HEAD_BYTES wait for its CRLFCRLF.
        if end > MAX_HEAD_BYTES or len(buffer) > MAX_HEAD_BYTES + len(_END_OF_HEAD):
            self._reject(431, f"a head over {MAX_HEAD_BYTES} bytes")
            return
        fault = partial_head_fault(buffer[:MAX_HEAD_BYTES])
        if fault is not None:
            self._reject(400, fault)

    def _reject(self, status: int, reason: str) -> None:
        """Refuse a malformed request, in one line of log."""
        log.info("bad request from %s, refused %d: %s", self.peer[0], status, reason)
        self.refuse(status)

    def _management_call(
        self, head: RequestHead, framing: Framing, buffer: bytes, body_start: int
    ) -> None:
        """Answer ``head`` as a management call here; its body is ``framing.length`` bytes."""
        assert framing.length is not None  # chunked calls go to aiohttp
        body_end = body_start + framing.length
        if len(buffer) < body_end:
            return  # the rest of the body is on its way
        self._buffer = buffer[body_end:]
        self._serving = True
        self._stop_timer()
        close = not framing.keep_alive
        body = buffer[body_start:body_end]
        refused = check_access(self._access, head.headers, head.method, head.path, head.query, body)
        if refused is not None:
            self._answer(refused, close)
            return
        path = head.path if head.query is None else f"{head.path}?{head.query}"
        call = perform(self._gateway, head.method, path, body)
        try:
            signal = call.send(None)
        except StopIteration as done:
            self._answer(done.value, close)
            return
        except Exception:  # a fault of the gateway's: answered, never left hanging
            log.exception("management %s %s failed", head.method, path)
            self._answer(internal_error(), close)
            return
        # The registry had to wait (a remote node): finish in a task of its own.
        task = asyncio.get_running_loop().create_task(self._answer_later(call, signal, close))
        self._gateway.traffic.track(task)

    async def _answer_later(
        self, call: Coroutine[Any, Any, Reply], signal: object, close: bool
    ) -> None:
        try:
            reply = await Resumed(call, signal)
        except Exception:  # a fault of the gateway's: answered, never left hanging
            log.exception("management call failed")
            reply = internal_error()
        self._answer(reply, close)
        self._take_requests()  # calls pipelined behind this one

    def _answer(self, reply: Reply, close: bool) -> None:
        self._serving = False
        self._answered = True
        if self.lost:
            self._buffer = b""
            return
        status, headers, body = reply
        now = int(time.time())
        self.transport.write(response(status, headers, body, close, now, SERVER_SOFTWARE))
        if close:
            self._buffer = b""  # nothing after the last request is read
            self.transport.close()
            return
        # The keep-alive connection may stay idle as long as a handshake may take.
        self._timer = asyncio.get_running_loop().call_later(
            self._gateway.config.api.handshake_timeout, self.transport.close
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_handshake(self, head: RequestHead, segment: str, early: bytes) -> None:
        """Run the handshake; ``early`` (frames sent behind the request) waits for it."""
        self._started = True
        self._buffer = b""
        self._early = early
        self._stop_timer()
        gateway = self._gateway
        task = asyncio.get_running_loop().create_task(handshake(gateway, self, head, segment))
        gateway.traffic.track(task)

    def _to_http(self, received: bytes) -> None:
        """Hand the connection to aiohttp, with what it sent so far."""
        self._handed_over = True
        self._buffer = b""
        self._stop_timer()
        protocol = self._http()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(received)

    # For the handshake

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address and the local port it connected to."""
        transport = self.transport
        peername = transport.get_extra_info("peername")
        sockname = transport.get_extra_info("sockname")
        host = str(peername[0]) if peername else ""
        port = int(sockname[1]) if sockname else 0
        return host, port

    def refuse(self, status: int, *, websocket_version: bool = False) -> None:
        """Answer with ``status`` and AWS's JSON message, then close the connection;
        ``websocket_version`` names the WebSocket version spoken (a refused handshake)."""
        self._stop_timer()
        self._buffer = b""  # nothing after a refused request is read
        if not self.lost:
            self.transport.write(refusal(status, websocket_version=websocket_version))
            self.transport.close()

    def upgrade(
        self, key: str, subprotocol: str | None, limits: Limits
    ) -> WebSocketConnection | None:
        """Send the 101 and turn the connection into a WebSocket; None if the client left."""
        if self.lost or self.transport.is_closing():
            return None
        transport = self.transport
        transport.write(switching_protocols(key, subprotocol))
        websocket = WebSocketConnection(
            transport, limits.max_frame_bytes, limits.max_message_bytes, limits.max_fragments
        )
        transport.set_protocol(websocket)
        if self._paused:
            self._paused = False
            transport.resume_reading()
        early, self._early = self._early, b""
        websocket.feed_early(early)
        return websocket

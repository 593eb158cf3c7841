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

What one client can make the front door hold is bounded. Each request's head must come
within ``server.request_timeout`` of the connection's start or of the previous answer,
and its body within as long again; one late is answered 408 (AWS's JSON shape) and the
connection closed, in one line of log (a kept-alive connection merely silent that long
is closed without a word). A request handed to aiohttp, which has no such timeouts of
its own, is watched until aiohttp has answered it: one not answered in time has its
connection closed. Pipelined calls are answered one at a time, and only while the
client reads its answers: once the transport holds more than its high-water mark of
unsent answers, the front door stops reading until the transport has drained
(``pause_writing``/``resume_writing``), so a client that sends and never reads is held
by TCP, not by the gateway's memory. A call that waits (a remote registry) stops the
reading until it is answered.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

import orjson
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


def _timed_out_answer() -> bytes:
    body = orjson.dumps({"message": "Request Timeout"})
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


_TIMED_OUT = _timed_out_answer()
"""The answer to a request not complete within ``server.request_timeout``."""


class FrontDoor(asyncio.Protocol):
    """A new connection's protocol until its first request says where it goes."""

    __slots__ = (
        "_access",
        "_answered",
        "_awaiting_body",
        "_buffer",
        "_early",
        "_gateway",
        "_handed_over",
        "_http",
        "_paused",
        "_peer",
        "_serving",
        "_started",
        "_timer",
        "_upgrades",
        "_write_full",
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
        """Reading is paused (answers unread, a call waiting, or frames before the 101)."""
        self._write_full = False
        """The transport holds more unsent answers than its high-water mark."""
        self._awaiting_body = False
        """A call's head is in and its body on the way: its own timeout runs."""
        self._timer: asyncio.TimerHandle | None = None
        self._peer: tuple[str, int] | None = None
        self.lost = False
        """The client went away before the connection was upgraded."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        # Bounds how long a client may take to send its first request.
        self._timer = asyncio.get_running_loop().call_later(
            self._gateway.config.server.request_timeout, self._timed_out
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
        while self._buffer and not (
            self._serving or self._started or self._handed_over or self._write_full
        ):
            taken = len(self._buffer)
            self._next_request()
            if len(self._buffer) == taken and not self._serving:
                break  # an incomplete request: wait for more bytes
        if self._started or self._handed_over:
            return
        if self._serving or self._write_full:
            # One request at a time, and none while its answers wait unread.
            if not self._paused:
                self._paused = True
                self.transport.pause_reading()
        elif self._paused and not self.lost and not self.transport.is_closing():
            self._paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        # The transport holds more than its high-water mark: take no more requests.
        self._write_full = True

    def resume_writing(self) -> None:
        self._write_full = False
        if not (self._started or self._handed_over or self.lost):
            self._take_requests()  # those read before the pause, then reading again

    def _timed_out(self) -> None:
        """``server.request_timeout`` passed: a request not complete is 408, a silent
        kept-alive connection is closed, one whose answers go unread is dropped."""
        self._timer = None
        if self.lost or self._started or self._handed_over or self._serving:
            return
        timeout = self._gateway.config.server.request_timeout
        if self._write_full:
            log.info("answers to %s unread for %g s: connection dropped", self.peer[0], timeout)
            self._buffer = b""
            self.transport.abort()
        elif self._buffer.strip(b"\r\n"):
            log.info("request from %s not complete within %g s: 408", self.peer[0], timeout)
            self._buffer = b""
            self.transport.write(_TIMED_OUT)
            self.transport.close()
        else:
            self.transport.close()

    def _arm(self) -> None:
        """Start ``server.request_timeout`` over (for the next request, or a body)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(
            self._gateway.config.server.request_timeout, self._timed_out
        )

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
            # The rest of the body is on its way, within a timeout of its own.
            if not self._awaiting_body:
                self._awaiting_body = True
                self._arm()
            return
        self._awaiting_body = False
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
        # The next request's head (or the connection's silence) is timed from here.
        self._arm()

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
        task.add_done_callback(self._handshake_done)

    def _handshake_done(self, task: asyncio.Task[None]) -> None:
        """A fault of the gateway's in a handshake costs that client a 500 and its
        connection, never a connection held open with no answer."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("handshake failed", exc_info=task.exception())
        if self.transport.get_protocol() is self:  # not upgraded: the answer is still ours
            self.refuse(500)

    def _to_http(self, received: bytes) -> None:
        """Hand the connection to aiohttp, with what it sent so far."""
        self._handed_over = True
        self._buffer = b""
        self._stop_timer()
        transport = self.transport
        if self._paused:
            self._paused = False
            transport.resume_reading()
        protocol = self._http()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(received)
        _AiohttpWatch(protocol, transport, self._gateway.config.server.request_timeout)

    # For the handshake

    @property
    def peer(self) -> tuple[str, int]:
        """The client's address and the local port it connected to."""
        peer = self._peer
        if peer is None:  # read once: each read asks the socket (a system call)
            transport = self.transport
            peername = transport.get_extra_info("peername")
            sockname = transport.get_extra_info("sockname")
            host = str(peername[0]) if peername else ""
            port = int(sockname[1]) if sockname else 0
            peer = self._peer = (host, port)
        return peer

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


class _AiohttpWatch:
    """Closes a connection handed to aiohttp whose request aiohttp has not answered
    within ``server.request_timeout`` (a body trickled, chunked, after ``Expect``...).

    aiohttp 3.14 has no timeout for reading a request's body; its keep-alive timeout
    (``server.request_timeout`` too, in ``server.runner``) covers idle connections and
    unfinished heads. The watch looks at the protocol every quarter of the timeout: a
    request taken (``_request_count``) and not answered (queued, or its handler still
    running) since the previous look counts on; one older than the timeout is cut off.
    These are aiohttp's own attributes, not its API: tests/e2e/test_abuse.py pins them.
    """

    __slots__ = ("_count", "_protocol", "_since", "_timeout", "_transport")

    def __init__(self, protocol: asyncio.Protocol, transport: asyncio.Transport, timeout: float):
        self._protocol = protocol
        self._transport = transport
        self._timeout = timeout
        self._count: int = getattr(protocol, "_request_count", 0)
        loop = asyncio.get_running_loop()
        # The request handed over has its head complete: its time runs from now.
        self._since: float | None = loop.time()
        loop.call_later(timeout / 4, self._look)

    def _look(self) -> None:
        transport = self._transport
        if transport.is_closing():
            return
        protocol = self._protocol
        loop = asyncio.get_running_loop()
        now = loop.time()
        busy = bool(getattr(protocol, "_messages", None)) or bool(
            getattr(protocol, "_request_in_progress", False)
        )
        count: int = getattr(protocol, "_request_count", 0)
        if not busy:
            self._since = None
        elif self._since is None or count != self._count:
            self._since, self._count = now, count
        elif now - self._since >= self._timeout:
            peer = transport.get_extra_info("peername")
            log.info(
                "request from %s not complete within %g s: connection closed",
                peer[0] if peer else "?",
                self._timeout,
            )
            transport.close()
            return
        loop.call_later(self._timeout / 4, self._look)

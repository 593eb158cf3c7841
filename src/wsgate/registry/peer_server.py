"""The owner's end of the node-to-node link: other nodes' operations on this node's
connections, answered over the connection they came on.

A link is served once the other node proved it holds the cluster's secret
(``peer_auth``); until then only the handshake's short frames are read, and a node that
does not finish it within the timeout is dropped. Operations are carried out in the order
they came, by one task per link while any are waiting, and the replies of one batch go out
in one write. Reading stops while too many operations wait or the asking node does not
read its replies, so a link holds a bounded amount.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol, cast

from wsgate.exceptions import BufferFull, Gone
from wsgate.registry import peer_auth
from wsgate.registry.base import LocalConnection
from wsgate.registry.peer_wire import (
    CLOSE,
    ERROR,
    FULL,
    GONE,
    HANDSHAKE_FRAME,
    INFO,
    MAX_FRAME,
    OK,
    STALE,
    STALE_HELD,
    FrameReader,
    LinkRequest,
    decode_request,
    encode_info,
    encode_reply,
    frame,
    reply_head,
)


__all__ = ["LinkOwner", "LinkServer"]

log = logging.getLogger("wsgate.registry")

_MAX_QUEUED = 4096
"""Operations waiting on one link before it stops reading."""
_MAX_QUEUED_BYTES = 8 * 1024 * 1024
_WRITE_HIGH = 1024 * 1024
"""Replies buffered for an asking node that does not read them before the link stops
reading."""
_BATCH = 512
"""Replies written at most in one write while operations keep coming."""


class LinkOwner(Protocol):
    """What the link asks of the registry it serves."""

    @property
    def node_id(self) -> str: ...

    def local(self, connection_id: str) -> LocalConnection | None: ...

    def reserved_event(self, connection_id: str) -> asyncio.Event | None:
        """Set once a connection whose id is reserved registers (or fails to)."""
        ...

    def lease_sure(self) -> bool:
        """Whether this node's lease surely still runs (by its own clock)."""
        ...

    def link_secret(self) -> bytes: ...


class LinkServer:
    """Listens for other nodes' links; serves each once authenticated."""

    def __init__(self, owner: LinkOwner, *, timeout: float, max_links: int = 256) -> None:
        self._owner = owner
        self._timeout = timeout
        self._max_links = max_links
        self._links: set[_Serving] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port``; the port bound (``port`` 0 picks one).

        Raises:
            OSError: the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Serving(self), host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def aclose(self) -> None:
        """Stop listening and drop every link."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for link in list(self._links):
            link.abort()
        if server is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await server.wait_closed()
            except TimeoutError:
                pass


class _Serving(asyncio.Protocol):
    """One link from another node."""

    def __init__(self, server: LinkServer) -> None:
        self._server = server
        self._owner = server._owner
        self._transport: asyncio.Transport | None = None
        self._reader = FrameReader(HANDSHAKE_FRAME)
        self._nonce = peer_auth.new_nonce()
        self._peer: str | None = None
        """The asking node's id once it proved it holds the secret."""
        self._timer: asyncio.TimerHandle | None = None
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._worker: asyncio.Task[None] | None = None
        self._deferred: set[asyncio.Task[None]] = set()
        self._reading = True
        self._writable = True

    # Transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport instances, but are one.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        links = self._server._links
        if len(links) >= self._server._max_links:
            log.warning("registry: link refused, %d links already open", len(links))
            transport.abort()
            return
        links.add(self)
        transport.set_write_buffer_limits(high=_WRITE_HIGH)
        transport.write(frame(peer_auth.challenge(self._nonce, self._owner.node_id)))
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._server._timeout, self._handshake_late)

    def data_received(self, data: bytes) -> None:
        try:
            bodies = self._reader.feed(data)
        except ValueError as exc:
            self._refuse(str(exc))
            return
        for body in bodies:
            if self._peer is None:
                if not self._authenticate(body):
                    return
                continue
            self._queue.append(body)
            self._queued_bytes += len(body)
        if not self._queue:
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        if len(self._queue) > _MAX_QUEUED or self._queued_bytes > _MAX_QUEUED_BYTES:
            self._pause()

    def pause_writing(self) -> None:
        self._writable = False
        self._pause()

    def resume_writing(self) -> None:
        self._writable = True
        self._resume()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._links.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        tasks = [*self._deferred, *([self._worker] if self._worker is not None else [])]
        for task in tasks:
            task.cancel()
        self._queue.clear()
        self._transport = None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # The handshake

    def _handshake_late(self) -> None:
        if self._peer is None:
            self._refuse("no proof within the timeout")

    def _authenticate(self, body: bytes) -> bool:
        owner = self._owner
        try:
            proof = peer_auth.read_proof(body)
        except ValueError as exc:
            self._refuse(str(exc))
            return False
        secret = owner.link_secret()
        ours, theirs = owner.node_id, proof.node_id
        expected = peer_auth.client_mac(secret, self._nonce, proof.nonce, ours, theirs)
        if not peer_auth.matches(expected, proof.mac):
            self._refuse(f"node {theirs!r} does not hold the cluster's secret")
            return False
        assert self._transport is not None
        mac = peer_auth.server_mac(secret, self._nonce, proof.nonce, ours, theirs)
        self._transport.write(frame(peer_auth.accept(mac)))
        self._peer = theirs
        self._reader.limit = MAX_FRAME
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return True

    def _refuse(self, why: str) -> None:
        transport = self._transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        log.warning("registry: link from %s dropped: %s", peer, why)
        self.abort()

    # Flow control

    def _pause(self) -> None:
        if self._reading and self._transport is not None:
            self._reading = False
            self._transport.pause_reading()

    def _resume(self) -> None:
        if self._reading or self._transport is None or not self._writable:
            return
        if len(self._queue) <= _MAX_QUEUED // 2 and self._queued_bytes <= _MAX_QUEUED_BYTES // 2:
            self._reading = True
            self._transport.resume_reading()

    # Carrying out

    async def _work(self) -> None:
        """Carry out the waiting operations in order; one write of replies per batch."""
        queue, owner = self._queue, self._owner
        try:
            while queue:
                sure = owner.lease_sure()
                replies: list[bytes] = []
                while queue and len(replies) < _BATCH:
                    body = queue.popleft()
                    self._queued_bytes -= len(body)
                    try:
                        request = decode_request(body)
                    except ValueError as exc:
                        self._refuse(str(exc))
                        return
                    if not sure:
                        cid = request.connection_id
                        held = owner.local(cid) is not None or owner.reserved_event(cid) is not None
                        outcome = STALE_HELD if held else STALE
                        replies.append(reply_head(request.request_id, outcome))
                        continue
                    connection = owner.local(request.connection_id)
                    if connection is not None:  # the usual case, one coroutine fewer
                        replies.append(await _operate(connection, request))
                        continue
                    reply = self._not_held(request)
                    if reply is not None:
                        replies.append(reply)
                self._write(replies)
                self._resume()
        finally:
            self._worker = None

    def _not_held(self, request: LinkRequest) -> bytes | None:
        """The reply for a connection this node does not hold (yet): Gone, or None while it
        waits for the connection's registration in a task of its own (``_deferred_reply``)."""
        reserved = self._owner.reserved_event(request.connection_id)
        if reserved is None:
            return reply_head(request.request_id, GONE)
        task = asyncio.get_running_loop().create_task(self._deferred_reply(request, reserved))
        self._deferred.add(task)
        task.add_done_callback(self._deferred.discard)
        return None

    async def _deferred_reply(self, request: LinkRequest, reserved: asyncio.Event) -> None:
        """Asked between the directory entry and the 101: the connection is at hand."""
        try:
            async with asyncio.timeout(self._server._timeout):
                await reserved.wait()
        except TimeoutError:
            pass
        connection = self._owner.local(request.connection_id)
        if connection is None:
            self._write([reply_head(request.request_id, GONE)])
        else:
            self._write([await _operate(connection, request)])

    def _write(self, replies: list[bytes]) -> None:
        transport = self._transport
        if replies and transport is not None and not transport.is_closing():
            transport.write(b"".join(replies))


async def _operate(connection: LocalConnection, request: LinkRequest) -> bytes:
    request_id = request.request_id
    try:
        operation = request.operation
        if operation == INFO:
            return encode_reply(request_id, OK, encode_info(connection.info()))
        if operation == CLOSE:
            await connection.close_by_api()
        else:
            assert request.data is not None  # decode_request guarantees it
            await connection.send(request.data)
    except Gone:
        return reply_head(request_id, GONE)
    except BufferFull:
        return reply_head(request_id, FULL)
    except Exception:
        log.exception("registry: an operation of a linked node on %s failed", request.connection_id)
        return reply_head(request_id, ERROR)
    return reply_head(request_id, OK)

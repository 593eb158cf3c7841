"""The asking end of the node-to-node link: one authenticated connection to one other
node, carrying this node's operations on that node's connections and their replies.

The operations asked in one turn of the loop go out in one write. Every operation waits at
most the timeout for its reply (one timer per link, not one per operation), and a link
takes no more operations once too many wait or too much is buffered: the caller then goes
another way, so nothing here grows without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from wsgate.registry import peer_auth
from wsgate.registry.peer_wire import (
    HANDSHAKE_FRAME,
    FrameReader,
    decode_reply,
    encode_request,
    frame,
)


__all__ = ["LinkDown", "LinkTimeout", "PeerLink", "open_link"]

log = logging.getLogger("wsgate.registry")

MAX_PENDING = 4096
"""Operations waiting for their reply on one link before it takes no more."""
MAX_BUFFERED = 8 * 1024 * 1024
"""Bytes not yet sent on one link before it takes no more."""

_IDS = 1 << 32

Reply = tuple[int, bytes]
"""An outcome (``peer_wire``'s codes) and the reply's body."""


class LinkDown(Exception):
    """The link closed before the operation's reply came: it may or may not have been
    carried out."""


class LinkTimeout(Exception):
    """No reply within the timeout: the other node may or may not have carried it out."""


async def open_link(
    host: str,
    port: int,
    *,
    node_id: str,
    peer_node_id: str,
    secret: bytes,
    timeout: float,
    on_lost: Callable[[PeerLink], None],
) -> PeerLink:
    """A link to node ``peer_node_id`` at ``host``:``port``, once both ends proved they
    hold ``secret``.

    Raises:
        OSError: it cannot be reached (TimeoutError: not within ``timeout``).
        LinkDown: the other end is another node, or refused this one.
    """
    loop = asyncio.get_running_loop()
    link = PeerLink(node_id, peer_node_id, secret, timeout, on_lost)
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: link, host, port)
            await link.ready
    except BaseException:
        if not link.ready.done():
            link.ready.cancel()  # nobody waits for it any more
        link.close()
        raise
    return link


class PeerLink(asyncio.Protocol):
    """One link to one node: its handshake, then operations and replies."""

    def __init__(
        self,
        node_id: str,
        peer_node_id: str,
        secret: bytes,
        timeout: float,
        on_lost: Callable[[PeerLink], None],
    ) -> None:
        self.node_id = node_id
        self.peer_node_id = peer_node_id
        """The node at the other end, as the handshake confirmed."""
        self._secret = secret
        self._timeout = timeout
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self._loop.create_future()
        """Done once the handshake succeeded (or with the reason it failed)."""
        self._transport: asyncio.Transport | None = None
        self._reader = FrameReader(HANDSHAKE_FRAME)
        self._nonce = peer_auth.new_nonce()
        self._server_nonce: bytes | None = None
        self._up = False
        self._pending: dict[int, tuple[asyncio.Future[Reply], float]] = {}
        """Operations waiting for their reply, oldest first, with their deadline."""
        self._next_id = 0
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._flushing = False
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def up(self) -> bool:
        return self._up

    def ask(
        self, operation: int, connection_id: str, payload: bytes
    ) -> asyncio.Future[Reply] | None:
        """Send one operation; its reply, ``LinkDown`` or ``LinkTimeout`` comes in the
        future. None, with nothing sent, when the link is down or too far behind."""
        transport = self._transport
        if not self._up or transport is None or len(self._pending) >= MAX_PENDING:
            return None
        if self._out_bytes + transport.get_write_buffer_size() > MAX_BUFFERED:
            return None
        request_id = self._next_id
        self._next_id = (request_id + 1) % _IDS
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._pending[request_id] = (future, self._loop.time() + self._timeout)
        data = encode_request(request_id, operation, connection_id, payload)
        self._out.append(data)
        self._out_bytes += len(data)
        if not self._flushing:
            self._flushing = True
            self._loop.call_soon(self._flush)
        if self._expiry is None:
            self._expiry = self._loop.call_later(self._timeout / 4, self._expire)
        return future

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport instances, but are one.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            bodies = self._reader.feed(data)
            for body in bodies:
                if self._up:
                    self._replied(body)
                else:
                    self._handshake(body)
        except ValueError as exc:
            log.warning("registry: link to node %s dropped: %s", self.peer_node_id, exc)
            self._fail(LinkDown(str(exc)))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._up = False
        self._fail(LinkDown(f"the link to node {self.peer_node_id} closed"))
        self._on_lost(self)

    # The handshake

    def _handshake(self, body: bytes) -> None:
        transport = self._transport
        assert transport is not None
        if self._server_nonce is None:
            challenge = peer_auth.read_challenge(body)
            if challenge.node_id != self.peer_node_id:
                raise ValueError(
                    f"node {challenge.node_id!r} answers there now, not {self.peer_node_id!r}"
                )
            self._server_nonce = challenge.nonce
            mac = peer_auth.client_mac(
                self._secret, challenge.nonce, self._nonce, self.peer_node_id, self.node_id
            )
            transport.write(frame(peer_auth.proof(self._nonce, mac, self.node_id)))
            return
        mac = peer_auth.read_accept(body)
        expected = peer_auth.server_mac(
            self._secret, self._server_nonce, self._nonce, self.peer_node_id, self.node_id
        )
        if not peer_auth.matches(expected, mac):
            raise ValueError("the other end does not hold the cluster's secret")
        self._up = True
        self._reader.limit = 1 << 20  # replies are short; info's is the longest
        if not self.ready.done():
            self.ready.set_result(None)

    # Operations

    def _flush(self) -> None:
        self._flushing = False
        out, self._out, self._out_bytes = self._out, [], 0
        transport = self._transport
        if transport is not None and out:
            transport.write(b"".join(out))

    def _replied(self, body: bytes) -> None:
        request_id, outcome, rest = decode_reply(body)
        entry = self._pending.pop(request_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result((outcome, rest))

    def _expire(self) -> None:
        """Fail the operations whose deadline passed; look again while any wait."""
        self._expiry = None
        now = self._loop.time()
        pending = self._pending
        while pending:
            request_id, (future, deadline) = next(iter(pending.items()))
            if deadline > now:
                break
            del pending[request_id]
            if not future.done():
                future.set_exception(LinkTimeout())
        if pending:
            self._expiry = self._loop.call_later(self._timeout / 4, self._expire)

    def _fail(self, error: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(error)
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(error)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

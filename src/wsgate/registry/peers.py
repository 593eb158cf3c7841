"""Which node holds a connection, read from its id, and the links to those nodes.

A connectionId begins with the tag of the node that made it (``core.ids.tagged_id``);
each node advertises its tag, its id and its link's address in Redis
(``redis_keys.Keys.links``), and every node keeps a copy of that table, read again with
each renewal of its lease and soon after it meets a tag it does not know.

The tag is a hint, never the truth: an id another process made, a tag taken again by a
newer node, an address that answers with another node: each ends on the Redis path, where
the directory decides. A link is opened on first use, in the background: until it is up,
operations take the Redis path, and a link that cannot be opened is tried again only
after ``retry_after``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from wsgate.core.ids import NODE_TAG_LENGTH
from wsgate.registry.peer_client import LinkDown, PeerLink, open_link


__all__ = ["Peer", "Peers", "parse_advert"]

log = logging.getLogger("wsgate.registry")

Peer = tuple[str, str, int]
"""A node as advertised: its id, and its link's host and port."""


def parse_advert(value: str) -> Peer:
    """``"NODE_ID HOST:PORT"`` (an IPv6 host in brackets) as a ``Peer``.

    Raises:
        ValueError: not of that form.
    """
    node_id, _, address = value.partition(" ")
    host, colon, port = address.rpartition(":")
    if not node_id or not colon or not host or not port.isdigit():
        raise ValueError(f"not a link's advert: {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return node_id, host, int(port)


def advert(node_id: str, host: str, port: int) -> str:
    """What ``parse_advert`` reads."""
    shown = f"[{host}]" if ":" in host else host
    return f"{node_id} {shown}:{port}"


class Peers:
    """The other nodes by tag, and the links open to them."""

    def __init__(
        self,
        node_id: str,
        secret: Callable[[], bytes],
        *,
        timeout: float,
        retry_after: float,
    ) -> None:
        self._node_id = node_id
        self._secret = secret
        self._timeout = timeout
        self._retry_after = retry_after
        self._table: dict[str, Peer] = {}
        self._links: dict[str, PeerLink] = {}
        """Links that are up, by tag."""
        self._opening: dict[str, asyncio.Task[None]] = {}
        self._retry_at: dict[str, float] = {}
        self._failed: set[str] = set()
        """Tags whose last attempt failed (logged once until one succeeds)."""
        self.wanted = asyncio.Event()
        """Set when an id's tag is not in the table: it should be read again."""

    def link_for(self, connection_id: str) -> PeerLink | None:
        """The link to the node whose tag ``connection_id`` carries, if it is up; else
        None (the caller takes the Redis path) and, if it can be, one is being opened."""
        tag = connection_id[:NODE_TAG_LENGTH]
        link = self._links.get(tag)
        if link is not None:
            return link
        peer = self._table.get(tag)
        if peer is None:
            self.wanted.set()
            return None
        if tag not in self._opening:
            loop = asyncio.get_running_loop()
            if loop.time() >= self._retry_at.get(tag, 0.0):
                task = loop.create_task(self._open(tag, peer))
                self._opening[tag] = task
                task.add_done_callback(partial(self._opened, tag))
        return None

    def update(self, adverts: dict[str, str], own_tag: str) -> None:
        """Take the table Redis holds (tag -> advert); links to nodes no longer there, or
        there under another id or address, are closed."""
        table: dict[str, Peer] = {}
        for tag, value in adverts.items():
            if tag == own_tag or len(tag) != NODE_TAG_LENGTH:
                continue
            try:
                table[tag] = parse_advert(value)
            except ValueError as exc:
                log.warning("registry: ignored a link advert: %s", exc)
        for tag, link in list(self._links.items()):
            if tag not in table:
                # Not advertised any more, yet the link is up: Redis lost the adverts (it
                # restarted empty) and the node has not renewed yet. A node that died
                # closes its link itself.
                table[tag] = self._table[tag]
            elif table[tag] != self._table.get(tag):
                del self._links[tag]
                link.close()
        self._table = table

    async def aclose(self) -> None:
        tasks = list(self._opening.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        links, self._links = list(self._links.values()), {}
        for link in links:
            link.close()

    async def _open(self, tag: str, peer: Peer) -> None:
        node_id, host, port = peer
        try:
            link = await open_link(
                host,
                port,
                node_id=self._node_id,
                peer_node_id=node_id,
                secret=self._secret(),
                timeout=self._timeout,
                on_lost=lambda lost: self._lost(tag, lost),
            )
        except (OSError, LinkDown) as exc:  # OSError: TimeoutError too
            self._retry_at[tag] = asyncio.get_running_loop().time() + self._retry_after
            if tag not in self._failed:
                self._failed.add(tag)
                log.warning(
                    "registry: no link to node %s at %s:%d (operations go through Redis): %s",
                    node_id,
                    host,
                    port,
                    exc or type(exc).__name__,
                )
            return
        if self._table.get(tag) != peer:
            link.close()  # the table changed meanwhile
            return
        self._failed.discard(tag)
        self._links[tag] = link

    def _opened(self, tag: str, _: asyncio.Task[None]) -> None:
        self._opening.pop(tag, None)

    def _lost(self, tag: str, link: PeerLink) -> None:
        if self._links.get(tag) is link:
            del self._links[tag]
            # Not again at once: a node that went away refuses, one that restarts is new.
            loop = asyncio.get_running_loop()
            self._retry_at[tag] = loop.time() + min(self._retry_after, 0.1)

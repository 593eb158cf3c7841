"""The Redis registry: gateway processes (nodes) sharing one Redis act as one API.

The keys and the nodes' inboxes are named in ``redis_keys``; the scripts that keep them
are in ``redis_scripts``; ``redis_link`` speaks to a single Redis or to a Redis Cluster.

An operation on a connection of this node is a direct call, as in the memory backend.
An operation on another node's connection goes straight to that node over the node link
(``peers``, ``peer_client``, ``peer_server``) when the connectionId's tag names a node
this one has a link to: no Redis on the way, and the owner's reply says what became of
it. The owner answers only while it is sure of its own lease; it says Gone only for itself,
so a Gone, a node that cannot vouch for its lease, and an id whose tag names no linked
node all take the Redis path:

One script, in one round trip, finds the owner in the directory and publishes the
operation to its inbox; the owner answers once its connection took the message (or with
why not), so a POST is 200 only when the message reached the owning node. Gone, without
waiting for a reply, when the directory has no entry, when the owner's lease lapsed (the
stale entry is removed), or when nobody listens on the owner's inbox (its process ended);
Gone too when the reply does not come within ``reply_timeout`` (the owner hangs, or died
since). An operation whose link closed before its reply came is ``RegistryError`` (it
may have been carried out); one whose reply did not come in time over the link is Gone
only if the directory says so or the owner's lease lapsed, else ``RegistryError``.

Redis restarting empty (or a cluster's replica taking over before it had every write).
Such a miss is Gone only while the directory can be trusted; otherwise it is
``RegistryError`` (500, which callers retry), never a 410 that makes them forget a live
connection. Chosen over asking every node on a miss (a broadcast, and a wait for every
true 410): the asking node's own lease is the witness. After a restart it is missing
until the node renews (within a third of a lease), and a node that takes a lapsed lease
again opens the re-entry window (``recovering``, one lease) before it writes its entries
again, so every live node has re-entered before the window closes. A node that starts
while other nodes listen without a lease opens it too.

Nodes that die. At registration a node keeps each connection's context in its entries.
Every node sweeps once a lease: for each node with entries whose lease lapsed, one script
per batch claims its connections atomically (off the entries, directory entry deleted),
so exactly one survivor gets each, and hands it to ``on_orphan`` (the gateway runs
``$disconnect``: 1006, no reason). A node that was only stalled finds its tombstone when
it takes its lease again and closes its connections.

Redis Cluster. Every name of one prefix shares a hash tag, so one API stage's directory
lives in one slot, served by one primary; stages (and APIs) spread over the cluster.

Redis itself is only imported by these modules, which only a gateway configured with the
redis backend imports.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError

from wsgate.config.management import is_wildcard_host
from wsgate.core.ids import new_id, new_node_tag, tagged_id
from wsgate.core.request import ConnectionContext
from wsgate.exceptions import BufferFull, ConfigError, DuplicateConnection, Gone, RegistryError
from wsgate.registry.base import ConnectionInfo, LocalConnection
from wsgate.registry.coalesce import Coalescer
from wsgate.registry.entry import context_of, decode_context, encode_context
from wsgate.registry.peer_client import LinkDown, LinkTimeout, PeerLink
from wsgate.registry.peer_server import LinkServer
from wsgate.registry.peer_wire import (
    CLOSE,
    FULL,
    GONE,
    INFO,
    OK,
    SEND_BINARY,
    SEND_TEXT,
    STALE,
    STALE_HELD,
    decode_info,
)
from wsgate.registry.peers import Peers, advert
from wsgate.registry.redis_keys import Keys
from wsgate.registry.redis_link import Call, Inbox, Link, as_text, connect
from wsgate.registry.redis_scripts import (
    ADVERTISE,
    CLAIM,
    DELIVER,
    ENTER,
    FIND_DEAD,
    JOIN,
    LEAVE,
    REAP,
    RELEASE,
    RENEW,
    SCRIPTS,
)
from wsgate.registry.wire import (
    Operation,
    Outcome,
    Reply,
    Request,
    decode,
    encode_reply,
    encode_request,
)


__all__ = ["OrphanHandler", "RedisRegistry"]

log = logging.getLogger("wsgate.registry")

OrphanHandler = Callable[[ConnectionContext], Awaitable[None]]
"""Runs ``$disconnect`` for a connection whose node died (see ``RedisRegistry.on_orphan``)."""

_REAP_BATCH = 200
"""A dead node's connections claimed per script run."""

_LINKS_READ_EVERY = 0.5
"""Seconds at least between two readings of the link table for tags not known yet."""

_OK = Reply(0, "ok")


def _redacted(url: str) -> str:
    """``url`` without its password (after the user name or as ``password=``), to be named
    in messages."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)


class RedisRegistry:
    """Connections of many nodes, reachable from any node through one Redis (or one Redis
    Cluster)."""

    _coalescer: Coalescer
    """Operations and replies of one turn of the loop go to Redis in one pipeline."""

    def __init__(
        self,
        url: str,
        *,
        cluster: bool = False,
        prefix: str = "wsgate:",
        lease: float = 6.0,
        reply_timeout: float = 3.0,
        entry_ttl: float = 7200.0 + 60.0,
        max_connections: int = 64,
        link_listen: tuple[str, int] | None = ("127.0.0.1", 0),
        link_advertise: tuple[str, int] | None = None,
    ) -> None:
        """
        Args:
            url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``); with
                ``cluster``, the URL of any node of the cluster.
            cluster: ``url`` is a node of a Redis Cluster (7 or later).
            prefix: the start of every key and channel; nodes of one API share it. It
                becomes the hash tag of them all, so it may not hold ``{`` or ``}``.
            lease: seconds a node counts as alive after its last renewal; it renews at a
                third of that, so a node that died is seen as gone within ``lease``.
            reply_timeout: seconds to wait for the owning node's reply before Gone.
            entry_ttl: seconds a directory entry outlives its registration if the node
                dies without removing it: the longest a connection may stay open
                (``api.max_connection_duration``) plus a margin.
            max_connections: Redis connections this node opens at most, the inbox's
                included; more operations at once wait for one, up to ``reply_timeout``.
            link_listen: (host, port) the node link listens on (port 0 picks one); None:
                no link, every operation on another node's connection goes through Redis.
            link_advertise: (host, port) other nodes reach the link at; by default the
                listening host and the port bound (port 0 here means that port too).
        """
        self.url = url
        self.cluster = cluster
        try:
            self._keys = Keys.under(prefix)
        except ValueError as exc:
            raise ConfigError(f"registry.prefix: {exc}") from None
        self.node_id = secrets.token_hex(8)
        """This process's id in the directory; random, so a restarted node is a new one."""
        self._lease = lease
        self._lease_ms = max(1, int(lease * 1000))
        self._reply_timeout = reply_timeout
        self._entry_ttl_ms = max(1, int(entry_ttl * 1000))
        self._max_connections = max_connections
        self._entries_key = self._keys.entries(self.node_id)
        self._local: dict[str, LocalConnection] = {}
        self._contexts: dict[str, bytes] = {}
        """The encoded context of each registered connection, to write again if needed."""
        self._unreleased: set[str] = set()
        """Ids unregistered while Redis could not be reached: removed at the next renewal,
        so that no node takes them for orphans of this one."""
        self.on_orphan: OrphanHandler | None = None
        """Set by the gateway before connections come: runs ``$disconnect`` (1006, no
        reason) for a connection of a node that died. This node reaps dead nodes'
        connections only once it is set; each is handed to exactly one node's handler."""
        self._orphans: set[asyncio.Task[None]] = set()
        self._sweep_now = asyncio.Event()
        self._reserved: dict[str, asyncio.Event] = {}
        """Ids claimed for a connection whose 101 is being written; set once registered."""
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        """This node's operations on other nodes' connections, by request id."""
        self._request_ids = itertools.count()
        self._link: Link | None = None
        self._inbox: Inbox | None = None
        self._tasks: list[asyncio.Task[None]] = []
        """The inbox reader, the lease keeper and the sweeper."""
        self._answering: set[asyncio.Task[None]] = set()
        """Other nodes' operations on this node's connections, being answered."""
        self._closing = False
        """Set by ``aclose``: the background loops end."""
        self._reclaim = False
        """Set when the directory may have lost this node's entries (the lease lapsed, or
        a registration could not reach Redis): the lease keeper writes them again."""
        if link_listen is not None and is_wildcard_host(link_listen[0]) and link_advertise is None:
            raise ConfigError(
                "registry.link_advertise: needed when registry.link_listen's host is a "
                f"wildcard ({link_listen[0] or '*'}): other nodes must be told an address"
            )
        self._link_listen = link_listen
        self._link_advertise = link_advertise
        self._tag = new_node_tag()
        """The start of every connectionId this node makes: other nodes find it by that."""
        self._advert = ""
        self._secret_offer = secrets.token_hex(32)
        """This node's proposal for the cluster's link secret (the first one stays)."""
        self._secret = b""
        self._link_server: LinkServer | None = None
        self._peers: Peers | None = None
        self._lease_until = 0.0
        """Until when (the loop's clock) this node's lease surely runs."""
        self._lease_sure_for = lease - min(0.5, lease / 10)
        self.remote_calls: Counter[str] = Counter()
        """Operations on other nodes' connections by the way they went, ``link`` or
        ``redis``: the metric ``wsgate_registry_remote_calls_total`` (``observe.build``)."""

    @property
    def lease(self) -> float:
        """Seconds this node counts as alive after its last renewal."""
        return self._lease

    @property
    def reply_timeout(self) -> float:
        """Seconds an operation waits for the owning node's reply before Gone."""
        return self._reply_timeout

    @property
    def link_address(self) -> str | None:
        """The address the node link is advertised at (``HOST:PORT``), once started."""
        return self._advert.partition(" ")[2] or None

    @property
    def node_tag(self) -> str:
        """The tag that connectionIds made by this node start with."""
        return self._tag

    def linked(self, connection_id: str) -> bool:
        """Whether an operation on ``connection_id`` goes over the node link now (else,
        when it is not this node's, through Redis); asking may start opening a link."""
        return self._peers is not None and self._peers.link_for(connection_id) is not None

    def new_connection_id(self) -> str:
        """See ``Registry.new_connection_id``: it carries this node's tag when the node
        link runs, so that other nodes reach the connection without Redis."""
        return tagged_id(self._tag) if self._link_listen is not None else new_id()

    # Lifecycle

    async def start(self) -> None:
        """Connect, take the lease and listen on the inbox.

        Raises:
            ConfigError: Redis cannot be reached at ``url``.
        """
        link: Link | None = None
        inbox: Inbox | None = None
        try:
            link = await connect(
                self.url,
                cluster=self.cluster,
                max_connections=self._max_connections,
                timeout=self._reply_timeout,
            )
            await link.load(SCRIPTS)
            # Other nodes listening without a lease: Redis lost its keys under them, and
            # their entries are on their way back (``JOIN`` opens the re-entry window).
            start = len(self._keys.inbox(""))
            inboxes = await link.listening(self._keys.inbox("*"))
            listening = [as_text(inbox)[start:] for inbox in inboxes]
            joined = asyncio.get_running_loop().time()
            await link.run(
                Call(
                    JOIN,
                    [self._keys.leases, self._keys.recovering],
                    [self._lease_ms, self._lease_ms, self.node_id, *listening],
                )
            )
            inbox = link.inbox(self._keys.inbox(self.node_id))
            await inbox.open(self._reply_timeout)
        except (RedisError, OSError, ValueError) as exc:  # OSError: TimeoutError too
            if inbox is not None:
                await inbox.aclose()
            if link is not None:
                await link.aclose()
            raise ConfigError(
                f"registry.url: cannot reach Redis at {_redacted(self.url)}: {exc}"
            ) from exc
        loop = asyncio.get_running_loop()
        self._lease_until = joined + self._lease_sure_for
        self._link, self._inbox = link, inbox
        self._coalescer = Coalescer(link)
        try:
            await self._start_link(link)
        except BaseException:
            await self.aclose()
            raise
        self._tasks = [
            loop.create_task(self._read_inbox(inbox)),
            loop.create_task(self._keep_lease()),
            loop.create_task(self._sweep()),
        ]
        if self._peers is not None:
            self._tasks.append(loop.create_task(self._read_links(link, self._peers)))

    async def _start_link(self, link: Link) -> None:
        """Listen for other nodes' links and advertise this one.

        Raises:
            ConfigError: the address cannot be bound, or Redis cannot be reached.
        """
        if self._link_listen is None:
            return
        host, port = self._link_listen
        server = LinkServer(self, timeout=self._reply_timeout)
        try:
            bound = await server.start(host, port)
        except OSError as exc:
            raise ConfigError(
                f"registry.link_listen: cannot listen on {host}:{port}: {exc}"
            ) from exc
        self._link_server = server
        shown_host, shown_port = self._link_advertise or (host, 0)
        self._advert = advert(self.node_id, shown_host, shown_port or bound)
        self._peers = Peers(
            self.node_id,
            self.link_secret,
            timeout=self._reply_timeout,
            retry_after=min(1.0, self._lease / 3),
        )
        try:
            await self._advertise(link)
        except RedisError as exc:
            raise ConfigError(
                f"registry.url: cannot reach Redis at {_redacted(self.url)}: {exc}"
            ) from exc

    async def aclose(self) -> None:
        """Stop listening and renewing, remove this node's keys, close the client."""
        self._closing = True
        tasks, self._tasks = self._tasks + list(self._answering) + list(self._orphans), []
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a cancellation swallowed inside the Redis client must not hang the
            # close; the loops also stop at their next turn, on _closing.
            _, pending = await asyncio.wait(tasks, timeout=self._reply_timeout)
            if pending:
                log.warning("registry: %d task(s) did not stop when cancelled", len(pending))
        peers, server = self._peers, self._link_server
        self._peers = self._link_server = None
        if peers is not None:
            await peers.aclose()
        if server is not None:
            await server.aclose()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RegistryError("the registry is closed"))
        if self._link is not None:
            await self._coalescer.aclose()
        link, inbox = self._link, self._inbox
        self._link = self._inbox = None
        if link is None or inbox is None:
            return
        try:
            ids = [*self._local, *self._reserved, *self._unreleased]
            commands = [self._release_call(connection_id) for connection_id in ids]
            leave = [self._keys.leases, self._entries_key, self._keys.nodes, self._keys.links]
            commands.append(Call(LEAVE, leave, [self.node_id, self._tag, self._advert]))
            _raise_first(await link.execute(commands))
        except RedisError as exc:
            log.warning("registry: could not remove node %s's keys: %s", self.node_id, exc)
        finally:
            self._local.clear()
            self._contexts.clear()
            for reserved in self._reserved.values():
                reserved.set()
            self._reserved.clear()
            await inbox.aclose()
            await link.aclose()

    # Registration

    async def reserve(self, connection_id: str) -> None:
        """See ``Registry.reserve``: the directory entry is written before the 101.

        If Redis cannot be reached, the connection is served here anyway and entered in
        the directory once Redis answers again: until then other nodes answer Gone.
        """
        link = self._started()  # before start: a clear error
        if connection_id in self._local or connection_id in self._reserved:
            raise DuplicateConnection(connection_id)
        # Held first: a second reservation of the id on this node fails above.
        self._reserved[connection_id] = asyncio.Event()
        try:
            claimed = await link.run(self._claim_call(connection_id, b""))
        except RedisError as exc:
            log.warning("registry: %s not in the directory yet: %s", connection_id, exc)
            self._reclaim = True
            return
        except BaseException:
            self._reserved.pop(connection_id, None)
            raise
        if not claimed:
            self._reserved.pop(connection_id, None)
            raise DuplicateConnection(connection_id)

    async def register(self, connection: LocalConnection) -> None:
        """See ``Registry.register``; reserves the id first unless ``reserve`` did."""
        connection_id = connection.connection_id
        if connection_id not in self._reserved:
            await self.reserve(connection_id)
        reserved = self._reserved.pop(connection_id)
        self._local[connection_id] = connection
        reserved.set()  # operations that came for it meanwhile go on
        # What another node needs to run its $disconnect should this node die.
        context = self._contexts[connection_id] = encode_context(context_of(connection))
        try:
            await self._coalescer.script(
                ENTER,
                [self._entries_key, self._keys.nodes],
                [connection_id, context, self._entry_ttl_ms, self.node_id],
            )
        except (RedisError, RegistryError) as exc:
            log.warning("registry: %s's entry not written yet: %s", connection_id, exc)
            self._reclaim = True

    async def unregister(self, connection_id: str) -> None:
        """See ``Registry.unregister``. Never raises: a session's ``$disconnect`` follows."""
        reserved = self._reserved.pop(connection_id, None)
        if reserved is not None:
            reserved.set()  # the upgrade failed: whoever waits for it finds it gone
        elif self._local.pop(connection_id, None) is None:
            return
        self._contexts.pop(connection_id, None)
        if self._link is None:
            return
        try:
            _raise_first(await self._link.execute([self._release_call(connection_id)]))
        except RedisError as exc:
            # Asked through the entry meanwhile, this node answers Gone; the lease keeper
            # removes it once Redis answers, so that no node takes it for an orphan.
            log.warning("registry: could not remove %s from the directory: %s", connection_id, exc)
            self._unreleased.add(connection_id)

    def _claim_call(self, connection_id: str, context: bytes) -> Call:
        """Point ``connection_id``'s entry at this node; with its context, enter it too."""
        return Call(
            CLAIM,
            [
                self._keys.conn(connection_id),
                self._entries_key,
                self._keys.nodes,
                self._keys.leases,
            ],
            [self.node_id, self._entry_ttl_ms, connection_id, context],
        )

    def _release_call(self, connection_id: str) -> Call:
        return Call(
            RELEASE,
            [self._keys.conn(connection_id), self._entries_key, self._keys.nodes],
            [self.node_id, connection_id],
        )

    # Operations

    async def send(self, connection_id: str, data: str | bytes) -> None:
        """See ``Registry.send``."""
        connection = self._local.get(connection_id)
        if connection is not None:
            await connection.send(data)
            return
        await self._remote("send", connection_id, data)

    async def info(self, connection_id: str) -> ConnectionInfo:
        """See ``Registry.info``."""
        connection = self._local.get(connection_id)
        if connection is not None:
            return connection.info()
        reply = await self._remote("info", connection_id)
        if reply.info is None:
            raise RegistryError(f"the owner of {connection_id} answered info without it")
        return reply.info

    async def close(self, connection_id: str) -> None:
        """See ``Registry.close``."""
        connection = self._local.get(connection_id)
        if connection is not None:
            await connection.close_by_api()
            return
        await self._remote("close", connection_id)

    def local(self, connection_id: str) -> LocalConnection | None:
        """See ``Registry.local``: a dict read, atomic for other threads."""
        return self._local.get(connection_id)

    def local_connections(self) -> list[LocalConnection]:
        """See ``Registry.local_connections``."""
        return list(self._local.values())

    # Asking the owning node

    def _remote(
        self, operation: Operation, connection_id: str, data: str | bytes | None = None
    ) -> Coroutine[Any, Any, Reply]:
        """Have the node owning ``connection_id`` carry out ``operation``: over the node
        link when the id's tag names a node linked to this one, else through Redis. (The
        coroutine that does it, so that the caller awaits one frame fewer per call.)"""
        peers = self._peers
        if peers is not None:
            link = peers.link_for(connection_id)
            if link is not None:
                self.remote_calls["link"] += 1
                return self._over_link(link, operation, connection_id, data)
        self.remote_calls["redis"] += 1
        return self._ask(operation, connection_id, data)

    async def _over_link(
        self, link: PeerLink, operation: Operation, connection_id: str, data: str | bytes | None
    ) -> Reply:
        """``_remote`` over ``link``. What the owner could not vouch for, the directory
        decides (``_ask``), told which node was asked already so that nothing is carried
        out twice."""
        payload = b""
        if operation == "send":
            if isinstance(data, str):
                code, payload = SEND_TEXT, data.encode("utf-8", "surrogatepass")
            else:
                assert data is not None
                code, payload = SEND_BINARY, data
        else:
            code = INFO if operation == "info" else CLOSE
        owner = link.peer_node_id
        future = link.ask(code, connection_id, payload)
        if future is None:  # the link is too far behind to take more
            busy = RegistryError(f"registry: the owner of {connection_id} is too far behind")
            return await self._ask(operation, connection_id, data, owner, busy)
        try:
            outcome, body = await future
        except LinkDown:
            raise RegistryError(
                f"registry: the link to the owner of {connection_id} closed before it answered"
            ) from None
        except LinkTimeout:
            log.warning("registry: the owner of %s did not answer over the link", connection_id)
            late = RegistryError(f"registry: the owner of {connection_id} did not answer")
            return await self._ask(operation, connection_id, data, owner, late)
        if outcome == OK:
            if operation != "info":
                return _OK
            try:
                return Reply(0, "ok", decode_info(body))
            except ValueError as exc:
                raise RegistryError(f"the owner of {connection_id} answered info: {exc}") from None
        if outcome == FULL:
            raise BufferFull(connection_id)
        if outcome == GONE:  # not on that node: the directory tells whether it is anywhere
            return await self._ask(operation, connection_id, data, owner, Gone(connection_id))
        if outcome == STALE or outcome == STALE_HELD:  # its lease may have lapsed
            return await self._ask(operation, connection_id, data, held=outcome == STALE_HELD)
        raise RegistryError(f"the owning node could not carry out the operation on {connection_id}")

    async def _ask(
        self,
        operation: Operation,
        connection_id: str,
        data: str | bytes | None = None,
        asked: str = "",
        if_asked: RegistryError | None = None,
        *,
        held: bool = False,
    ) -> Reply:
        """Have the node owning ``connection_id`` carry out ``operation`` through Redis;
        its reply. ``asked``: a node the link asked already, whose lease runs: if the
        directory names it as the owner, ``if_asked`` is raised and nothing is sent.
        ``held``: the owner said over the link that it holds the connection, so a
        directory without the entry is one that has not been given it again yet.

        Raises:
            Gone: no live node owns the id, or the owner did not answer in time.
            BufferFull: the owner's connection refused the message.
            RegistryError: Redis cannot be reached, or the owner's connection failed.
        """
        # Redis is spoken to by the coalescer's own task: this call may begin outside any
        # task (the front door's first step), and is in one by the time it times a reply.
        self._started()  # and not closed
        request_id = next(self._request_ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        request = Request(request_id, self.node_id, operation, connection_id, data)
        try:
            try:
                deliver = self._coalescer.queue_script(
                    DELIVER,
                    [self._keys.conn(connection_id), self._keys.leases, self._keys.recovering],
                    [
                        self._keys.inbox(""),
                        self.node_id,
                        encode_request(request),
                        self._publish_command(),
                        asked,
                    ],
                )
                # wait_for, not asyncio.timeout: this step may run outside any task.
                received = await asyncio.wait_for(deliver, self._reply_timeout)
            except RedisError as exc:
                raise RegistryError(f"registry unavailable: {exc}") from exc
            except TimeoutError:
                raise RegistryError("registry unavailable: Redis did not answer in time") from None
            if received == -2:
                # Redis lost the directory lately: the owner may not have entered it again.
                raise RegistryError(
                    f"registry: {connection_id} not in the directory while it is rebuilt"
                )
            if received == -4:
                assert if_asked is not None
                raise if_asked
            if received == -1 and held:
                raise RegistryError(
                    f"registry: {connection_id} not in the directory yet, though its owner holds it"
                )
            if received == -3:
                self._sweep_now.set()  # its owner died: its connections are orphans
            # No live owner but this node (where it ended), or the owner's process ended.
            if received <= 0:
                raise Gone(connection_id)
            try:
                async with asyncio.timeout(self._reply_timeout):
                    reply = await future
            except TimeoutError:
                log.warning("registry: the owner of %s did not answer", connection_id)
                raise Gone(connection_id) from None
        finally:
            del self._waiting[request_id]
        return _outcome(reply, connection_id)

    # Serving other nodes: the node link (``peer_server``'s ``LinkOwner``)

    def reserved_event(self, connection_id: str) -> asyncio.Event | None:
        return self._reserved.get(connection_id)

    def lease_sure(self) -> bool:
        return asyncio.get_running_loop().time() < self._lease_until

    def link_secret(self) -> bytes:
        return self._secret

    async def _advertise(self, link: Link) -> None:
        """Advertise the link under this node's tag (a new tag if another node holds it),
        and take the link secret and the table of every node's link."""
        peers = self._peers
        if peers is None:
            return
        keys = self._keys
        for _ in range(8):
            took, secret = await link.run(
                Call(
                    ADVERTISE,
                    [keys.links, keys.leases, keys.secret],
                    [self._tag, self._advert, self._secret_offer],
                )
            )
            self._secret = bytes(secret)
            if took:
                break
            # Another live node advertises this tag: ids made from now on carry a new one;
            # those made before reach this node through Redis.
            log.warning("registry: node tag %s is another node's; taking a new one", self._tag)
            self._tag = new_node_tag()
        await self._read_table(link, peers)

    async def _read_links(self, link: Link, peers: Peers) -> None:
        """Read the link table again soon after an id's tag was not in it."""
        while not self._closing:
            await peers.wanted.wait()
            peers.wanted.clear()
            try:
                await self._read_table(link, peers)
            except Exception as exc:  # the reader must outlive any one failure
                log.warning("registry: could not read the node links: %s", exc)
            await asyncio.sleep(_LINKS_READ_EVERY)

    async def _read_table(self, link: Link, peers: Peers) -> None:
        """Give ``peers`` every node's link as Redis holds it (at start, with each renewal
        and when an id's tag is not known)."""
        peers.update(await link.read_hash(self._keys.links), self._tag)

    # Serving other nodes: the inbox

    async def _read_inbox(self, inbox: Inbox) -> None:
        """Take requests and replies from this node's inbox until cancelled."""
        while not self._closing:
            try:
                data = await inbox.next(self._reply_timeout)
            except Exception as exc:  # the inbox must outlive any one failure
                # The next read subscribes again.
                log.warning("registry: inbox of node %s: %s", self.node_id, exc)
                await asyncio.sleep(min(1.0, self._lease / 3))
                continue
            self._received(data)

    def _received(self, data: bytes) -> None:
        try:
            message = decode(data)
        except ValueError as exc:
            log.warning("registry: ignored a malformed message: %s", exc)
            return
        if isinstance(message, Reply):
            future = self._waiting.get(message.request_id)
            if future is not None and not future.done():
                future.set_result(message)
            return  # a reply that came too late
        task = asyncio.get_running_loop().create_task(self._answer(message))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, request: Request) -> None:
        """Carry out another node's operation on a connection of this one and reply."""
        outcome: Outcome = "ok"
        info: ConnectionInfo | None = None
        connection_id = request.connection_id
        connection = self._local.get(connection_id)
        reserved = self._reserved.get(connection_id)
        if connection is None and reserved is not None:
            # Asked between the directory entry and the 101: the connection is at hand.
            try:
                async with asyncio.timeout(self._reply_timeout):
                    await reserved.wait()
            except TimeoutError:
                pass
            connection = self._local.get(connection_id)
        try:
            if connection is None:
                raise Gone(connection_id)
            if request.operation == "send":
                assert request.data is not None  # wire.decode guarantees it
                await connection.send(request.data)
            elif request.operation == "info":
                info = connection.info()
            else:
                await connection.close_by_api()
        except Gone:
            outcome = "gone"
        except BufferFull:
            outcome = "full"
        except Exception:
            log.exception("registry: %s of %s failed", request.operation, connection_id)
            outcome = "error"
        reply = encode_reply(Reply(request.request_id, outcome, info))
        try:
            self._started()  # not closed meanwhile
            await self._coalescer.publish(self._keys.inbox(request.reply_to), reply)
        except (RedisError, RegistryError) as exc:  # RegistryError: closed meanwhile
            log.warning("registry: could not answer node %s: %s", request.reply_to, exc)

    # The lease

    async def _keep_lease(self) -> None:
        """Renew the lease at a third of its length; write the entries again if it lapsed,
        close the connections if other nodes took this one for dead and reaped them."""
        link = self._started()
        renew = Call(
            RENEW,
            [self._keys.leases, self._keys.recovering, self._keys.tombstone(self.node_id)],
            [self._lease_ms, self._lease_ms, self.node_id],
        )
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(self._lease / 3)
            try:
                sent = loop.time()
                renewed = await link.run(renew)
                # The lease ends no sooner than a lease after the renewal was sent.
                self._lease_until = sent + self._lease_sure_for
                if renewed == -1:
                    self._reaped()
                elif renewed == 0:
                    # Other nodes took this node for dead and may have removed its entries,
                    # or Redis restarted empty.
                    log.warning("registry: the lease of node %s had lapsed", self.node_id)
                    self._reclaim = True
                if self._reclaim:
                    await self._claim_all(link)
                if self._unreleased:
                    await self._release_all(link)
                await self._advertise(link)
            except Exception as exc:  # the lease must outlive any one failure
                log.warning("registry: could not renew node %s's lease: %s", self.node_id, exc)

    def _reaped(self) -> None:
        """Other nodes took this node for dead (it stalled, or was cut off from Redis past
        its lease) and ran the ``$disconnect`` of its connections: close them (1001), so
        that their clients connect again rather than stay unreachable. Their own
        ``$disconnect`` runs here too, a second one."""
        connections = list(self._local.values())
        log.error(
            "registry: node %s was taken for dead and its %d connections reaped; closing them",
            self.node_id,
            len(connections),
        )
        for connection in connections:
            task = asyncio.get_running_loop().create_task(
                connection.close_going_away(self._reply_timeout)
            )
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)

    async def _claim_all(self, link: Link) -> None:
        """Enter every connection of this node in the directory again."""
        self._reclaim = False
        ids = [*self._local, *self._reserved]
        calls = [self._claim_call(id_, self._contexts.get(id_, b"")) for id_ in ids]
        try:
            claimed = _raise_first(await link.execute(calls))
        except RedisError:
            self._reclaim = True
            raise
        for connection_id, done in zip(ids, claimed, strict=True):
            if not done:
                log.error("registry: %s is registered on another node", connection_id)

    async def _release_all(self, link: Link) -> None:
        """Remove the entries of connections unregistered while Redis was away."""
        ids, self._unreleased = self._unreleased, set()
        try:
            _raise_first(await link.execute([self._release_call(id_) for id_ in ids]))
        except RedisError:
            self._unreleased |= ids
            raise

    # Nodes that died

    async def _sweep(self) -> None:
        """Look for nodes whose lease lapsed once a lease (sooner when an operation found
        one), and reap their connections; only once ``on_orphan`` is set."""
        link = self._started()
        keys = self._keys
        find_dead = Call(FIND_DEAD, [keys.nodes, keys.leases, keys.links], [self.node_id])
        while not self._closing:
            try:
                # Jittered: nodes do not all sweep at once.
                interval = self._lease * random.uniform(0.75, 1.25)
                async with asyncio.timeout(interval):
                    await self._sweep_now.wait()
            except TimeoutError:
                pass
            self._sweep_now.clear()
            if self.on_orphan is None:
                continue
            try:
                for node_id in await link.run(find_dead):
                    await self._reap_node(link, as_text(node_id))
            except Exception as exc:  # the sweeper must outlive any one failure
                log.warning("registry: could not sweep dead nodes: %s", exc)

    async def _reap_node(self, link: Link, node_id: str) -> None:
        """Claim the connections of ``node_id`` (its lease lapsed) batch by batch and run
        the ``$disconnect`` of each one this node claimed."""
        keys = self._keys
        entries = keys.entries(node_id)
        cursor = 0
        while True:
            # The ids first: the script must be handed their directory keys.
            cursor, page = await link.scan_hash(entries, cursor, _REAP_BATCH)
            ids = [as_text(connection_id) for connection_id in page]
            claimed = await link.run(
                Call(
                    REAP,
                    [keys.leases, entries, keys.tombstone(node_id), keys.nodes]
                    + [keys.conn(connection_id) for connection_id in ids],
                    [node_id, self._entry_ttl_ms, *ids],
                )
            )
            if not claimed[0]:
                return  # it took its lease again
            pairs = claimed[1:]
            if pairs:
                log.warning(
                    "registry: node %s died; running $disconnect for %d of its connections",
                    node_id,
                    len(pairs) // 2,
                )
            for index in range(0, len(pairs), 2):
                connection_id = as_text(pairs[index])
                try:
                    context = decode_context(connection_id, bytes(pairs[index + 1]))
                except ValueError as exc:
                    log.error("registry: orphan %s has no usable entry: %s", connection_id, exc)
                    continue
                self._orphaned(context)
            if cursor == 0:
                return

    def _orphaned(self, context: ConnectionContext) -> None:
        handler = self.on_orphan
        if handler is None:  # unset meanwhile
            return

        async def run() -> None:
            try:
                await handler(context)
            except Exception:
                log.exception("registry: $disconnect of orphan %s failed", context.connection_id)

        task = asyncio.get_running_loop().create_task(run())
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)

    # Names

    def _started(self) -> Link:
        if self._link is None:
            raise RegistryError("the registry is not started")
        return self._link

    def _publish_command(self) -> str:
        return self._started().publish_command


def _raise_first(results: list[Any]) -> list[Any]:
    """``results`` of a pipeline, unless one of them is an error: raised."""
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def _outcome(reply: Reply, connection_id: str) -> Reply:
    """``reply`` if it is a success; else the exception it stands for."""
    if reply.outcome == "ok":
        return reply
    if reply.outcome == "gone":
        raise Gone(connection_id)
    if reply.outcome == "full":
        raise BufferFull(connection_id)
    raise RegistryError(f"the owning node could not carry out the operation on {connection_id}")

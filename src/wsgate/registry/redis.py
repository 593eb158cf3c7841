"""The Redis registry: gateway processes (nodes) sharing one Redis act as one API.

Every key and channel starts with the prefix::

    node:{nodeId}          a node's lease: a key with a TTL that the node keeps renewing
    conn:{connectionId}    the directory: the id of the node that owns the connection
    conns:{nodeId}         a node's connections: connectionId -> what $disconnect needs
    nodes                  the nodes that have connections (a set), for the sweep
    recovering             while it exists (a lease), a directory miss is not Gone
    reaped:{nodeId}        tombstone: other nodes ran the node's connections' $disconnect
    inbox:{nodeId}         (channel) operations on the node's connections, and the
                           replies to the node's own operations

An operation on a connection of this node is a direct call, as in the memory backend.
Otherwise one script, in one round trip, finds the owner in the directory and publishes
the operation to its inbox; the owner answers once its connection took the message (or
with why not), so a POST is 200 only when the message reached the owning node. Gone,
without waiting for a reply, when the directory has no entry, when the owner's lease
lapsed (the stale entry is removed), or when nobody listens on the owner's inbox (its
process ended); Gone too when the reply does not come within ``reply_timeout`` (the
owner hangs, or died since).

Redis restarting empty. Such a miss is Gone only while the directory can be trusted;
otherwise it is ``RegistryError`` (500, which callers retry), never a 410 that makes them
forget a live connection. Chosen over asking every node on a miss (a broadcast, and a
wait for every true 410): the asking node's own lease is the witness. After a restart it
is missing until the node renews (within a third of a lease), and a node that takes a
lapsed lease again opens the re-entry window (``recovering``, one lease) before it writes
its entries again, so every live node has re-entered before the window closes. A node
that starts while other nodes listen without a lease opens it too.

Nodes that die. At registration a node keeps each connection's context in
``conns:{nodeId}``. Every node sweeps once a lease: for each node of ``nodes`` whose lease
lapsed, one script claims a batch of its connections atomically (off the hash, ``conn:``
entry deleted), so exactly one survivor gets each, and hands it to ``on_orphan`` (the
gateway runs ``$disconnect``: 1006, no reason). A node that was only stalled finds its
tombstone when it takes its lease again and closes its connections.

Redis itself is only imported by this module, which only a gateway configured with the
redis backend imports. The scripts read keys (and publish on channels) they were not
handed, so this targets a single Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from wsgate.core.request import ConnectionContext
from wsgate.exceptions import BufferFull, ConfigError, DuplicateConnection, Gone, RegistryError
from wsgate.registry.base import ConnectionInfo, LocalConnection
from wsgate.registry.coalesce import Coalescer
from wsgate.registry.entry import context_of, decode_context, encode_context
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

# Hand a request to the node that owns the connection, in one round trip: the number of
# processes that received it (0: the owner's process ended), -1 when no live node other
# than the asking one owns the id, -3 when its owner's lease lapsed (the entry is deleted;
# the owner's connections are orphans to reap), or -2 when the directory cannot tell:
# the asking node's own lease is missing (Redis lost its keys, or this node stalled past
# its lease: either way the owner may not have entered its connections again yet) or a
# re-entry window is open (the recovering key, see _RENEW).
# KEYS: conn key, the asking node's lease key, recovering key.
# ARGV: node key prefix, inbox prefix, the asking node's id, the request.
_DELIVER = """
local function unsure()
  return redis.call('EXISTS', KEYS[2]) == 0 or redis.call('EXISTS', KEYS[3]) == 1
end
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[3] then return -1 end
if not owner then
  if unsure() then return -2 end
  return -1
end
if redis.call('EXISTS', ARGV[1] .. owner) == 0 then
  if unsure() then return -2 end
  redis.call('DEL', KEYS[1])
  return -3
end
local received = redis.call('PUBLISH', ARGV[2] .. owner, ARGV[4])
if received == 0 and unsure() then return -2 end
return received
"""

# Point the entry at this node unless another node with a live lease owns it: 1, else 0;
# with a context, also keep it in this node's entries (``conns:{nodeId}``, a hash of
# connectionId to context) and list the node in the nodes set (the nodes with entries).
# KEYS: conn key, this node's entries, nodes set. ARGV: node id, node key prefix, TTL in
# ms, connection id, the encoded context or ''.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[1])
end
return 1
"""

# Keep a registered connection's context in this node's entries.
# KEYS: this node's entries, nodes set. ARGV: connection id, encoded context, TTL in ms,
# node id.
_ENTER = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('SADD', KEYS[2], ARGV[4])
"""

# Forget a connection of this node: its context (the node leaves the nodes set with its
# last one), and the entry if it still points at this node.
# KEYS: conn key, this node's entries, nodes set. ARGV: node id, connection id.
_RELEASE = """
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Renew this node's lease, or take it again if it lapsed. Returns 1 (renewed), 0 (it had
# lapsed: the node writes its entries again; until a lease from now a directory miss is
# not taken for Gone: the recovering key, the re-entry window) or -1 (it had lapsed and
# other nodes reaped this node's connections: its tombstone said so).
# KEYS: lease key, recovering key, this node's tombstone. ARGV: lease in ms, window in ms.
_RENEW = """
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 1 then return 1 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
if redis.call('DEL', KEYS[3]) == 1 then return -1 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 0
"""

# Take the lease of a node that starts. Other nodes listening on their inboxes without a
# lease mean Redis lost its keys under them: open the re-entry window.
# KEYS: lease key, recovering key. ARGV: lease in ms, window in ms, node key prefix, then
# the ids of the nodes listening.
_JOIN = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
for i = 4, #ARGV do
  if redis.call('EXISTS', ARGV[3] .. ARGV[i]) == 0 then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
    return 0
  end
end
return 1
"""

# The nodes whose lease lapsed, this one excepted. KEYS: nodes set.
# ARGV: node key prefix, this node's id.
_FIND_DEAD = """
local dead = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. id) == 0 then
    table.insert(dead, id)
  end
end
return dead
"""

# Claim a batch of a dead node's connections, atomically: each is taken off its entries
# (so that no other node claims it too) and its directory entry deleted if it still names
# the dead node. Returns {more, id1, context1, id2, context2, ...}; more is 1 while entries
# remain. Nothing if the node took its lease again. The tombstone tells the node, should it
# come back, that its connections were reaped; once it has no entries it leaves the set.
# KEYS: dead node's lease key, its entries, its tombstone, nodes set.
# ARGV: conn key prefix, dead node's id, batch size, tombstone TTL in ms.
_REAP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
local page = redis.call('HSCAN', KEYS[2], 0, 'COUNT', ARGV[3])[2]
local claimed = {0}
for i = 1, #page, 2 do
  local id = page[i]
  redis.call('HDEL', KEYS[2], id)
  if redis.call('GET', ARGV[1] .. id) == ARGV[2] then redis.call('DEL', ARGV[1] .. id) end
  table.insert(claimed, id)
  table.insert(claimed, page[i + 1])
end
if redis.call('HLEN', KEYS[2]) > 0 then
  claimed[1] = 1
else
  redis.call('SREM', KEYS[4], ARGV[2])
end
return claimed
"""


def _redacted(url: str) -> str:
    """``url`` without its password (after the user name or as ``password=``), to be named
    in messages."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)


class RedisRegistry:
    """Connections of many nodes, reachable from any node through one Redis."""

    # The scripts, made by ``start`` once there is a client.
    _deliver: AsyncScript
    _coalescer: Coalescer
    """Operations and replies of one turn of the loop go to Redis in one pipeline."""
    _claim: AsyncScript
    _enter: AsyncScript
    _release: AsyncScript
    _renew: AsyncScript
    _join: AsyncScript
    _find_dead: AsyncScript
    _reap: AsyncScript

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "wsgate:",
        lease: float = 6.0,
        reply_timeout: float = 3.0,
        entry_ttl: float = 7200.0 + 60.0,
        max_connections: int = 64,
    ) -> None:
        """
        Args:
            url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``).
            prefix: the start of every key and channel; nodes of one API share it.
            lease: seconds a node counts as alive after its last renewal; it renews at a
                third of that, so a node that died is seen as gone within ``lease``.
            reply_timeout: seconds to wait for the owning node's reply before Gone.
            entry_ttl: seconds a directory entry outlives its registration if the node
                dies without removing it: the longest a connection may stay open
                (``api.max_connection_duration``) plus a margin.
            max_connections: Redis connections this node opens at most, the inbox's
                included; more operations at once wait for one, up to ``reply_timeout``.
        """
        self.url = url
        self.node_id = secrets.token_hex(8)
        """This process's id in the directory; random, so a restarted node is a new one."""
        self._prefix = prefix
        self._lease = lease
        self._lease_ms = max(1, int(lease * 1000))
        self._reply_timeout = reply_timeout
        self._entry_ttl_ms = max(1, int(entry_ttl * 1000))
        self._max_connections = max_connections
        self._node_keys = f"{prefix}node:"
        self._node_key = f"{prefix}node:{self.node_id}"
        self._entries_key = self._entries(self.node_id)
        self._recovering_key = f"{prefix}recovering"
        self._nodes_key = f"{prefix}nodes"
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
        self._redis: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        """The inbox reader, the lease keeper and the sweeper."""
        self._answering: set[asyncio.Task[None]] = set()
        """Other nodes' operations on this node's connections, being answered."""
        self._reclaim = False
        """Set when the directory may have lost this node's entries (the lease lapsed, or
        a registration could not reach Redis): the lease keeper writes them again."""

    @property
    def lease(self) -> float:
        """Seconds this node counts as alive after its last renewal."""
        return self._lease

    @property
    def reply_timeout(self) -> float:
        """Seconds an operation waits for the owning node's reply before Gone."""
        return self._reply_timeout

    # Lifecycle

    async def start(self) -> None:
        """Connect, take the lease and listen on the inbox.

        Raises:
            ConfigError: Redis cannot be reached at ``url``.
        """
        client: aioredis.Redis | None = None
        pubsub: PubSub | None = None
        try:
            # Blocking: a burst of operations waits for a connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=self._max_connections, timeout=self._reply_timeout
            )
            client = aioredis.Redis.from_pool(pool)
            await client.ping()
            self._register_scripts(client)
            # Other nodes listening without a lease: Redis lost its keys under them, and
            # their entries are on their way back (``_JOIN`` opens the re-entry window).
            inboxes = await client.pubsub_channels(self._inbox("*"))
            listening = [_text(inbox)[len(self._inbox("")) :] for inbox in inboxes]
            await self._join(
                keys=[self._node_key, self._recovering_key],
                args=[self._lease_ms, self._lease_ms, self._node_keys, *listening],
                client=client,
            )
            pubsub = client.pubsub()
            await pubsub.subscribe(self._inbox(self.node_id))
            # Listening only once Redis confirmed it: nothing published after start is lost.
            async with asyncio.timeout(self._reply_timeout):
                while await pubsub.get_message(timeout=self._reply_timeout) is None:
                    pass
        except (RedisError, OSError, ValueError) as exc:  # OSError: TimeoutError too
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()
            raise ConfigError(
                f"registry.url: cannot reach Redis at {_redacted(self.url)}: {exc}"
            ) from exc
        self._redis, self._pubsub = client, pubsub
        self._coalescer = Coalescer(client)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_inbox(pubsub)),
            loop.create_task(self._keep_lease()),
            loop.create_task(self._sweep()),
        ]

    def _register_scripts(self, client: aioredis.Redis) -> None:
        self._deliver = client.register_script(_DELIVER)
        self._claim = client.register_script(_CLAIM)
        self._enter = client.register_script(_ENTER)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._join = client.register_script(_JOIN)
        self._find_dead = client.register_script(_FIND_DEAD)
        self._reap = client.register_script(_REAP)

    async def aclose(self) -> None:
        """Stop listening and renewing, remove this node's keys, close the client."""
        tasks, self._tasks = self._tasks + list(self._answering) + list(self._orphans), []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RegistryError("the registry is closed"))
        if self._redis is not None:
            await self._coalescer.aclose()
        client, pubsub = self._redis, self._pubsub
        self._redis = self._pubsub = None
        if client is None or pubsub is None:
            return
        try:
            pipe = client.pipeline(transaction=False)
            for connection_id in [*self._local, *self._reserved, *self._unreleased]:
                await self._release_in(pipe, connection_id)
            pipe.delete(self._node_key, self._entries_key)
            pipe.srem(self._nodes_key, self.node_id)  # with its last entry, already
            await pipe.execute()
        except RedisError as exc:
            log.warning("registry: could not remove node %s's keys: %s", self.node_id, exc)
        finally:
            self._local.clear()
            self._contexts.clear()
            for reserved in self._reserved.values():
                reserved.set()
            self._reserved.clear()
            await pubsub.aclose()
            await client.aclose()

    # Registration

    async def reserve(self, connection_id: str) -> None:
        """See ``Registry.reserve``: the directory entry is written before the 101.

        If Redis cannot be reached, the connection is served here anyway and entered in
        the directory once Redis answers again: until then other nodes answer Gone.
        """
        self._client()  # before start: a clear error, not a missing script
        if connection_id in self._local or connection_id in self._reserved:
            raise DuplicateConnection(connection_id)
        # Held first: a second reservation of the id on this node fails above.
        self._reserved[connection_id] = asyncio.Event()
        try:
            claimed = await self._claim(
                keys=[self._conn_key(connection_id), self._entries_key, self._nodes_key],
                args=[self.node_id, self._node_keys, self._entry_ttl_ms, connection_id, ""],
            )
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
                self._enter,
                [self._entries_key, self._nodes_key],
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
        if self._redis is None:
            return
        try:
            await self._release_in(None, connection_id)
        except RedisError as exc:
            # Asked through the entry meanwhile, this node answers Gone; the lease keeper
            # removes it once Redis answers, so that no node takes it for an orphan.
            log.warning("registry: could not remove %s from the directory: %s", connection_id, exc)
            self._unreleased.add(connection_id)

    async def _release_in(self, pipe: aioredis.client.Pipeline | None, connection_id: str) -> None:
        await self._release(
            keys=[self._conn_key(connection_id), self._entries_key, self._nodes_key],
            args=[self.node_id, connection_id],
            client=pipe,
        )

    # Operations

    async def send(self, connection_id: str, data: str | bytes) -> None:
        """See ``Registry.send``."""
        connection = self._local.get(connection_id)
        if connection is not None:
            await connection.send(data)
            return
        await self._ask("send", connection_id, data)

    async def info(self, connection_id: str) -> ConnectionInfo:
        """See ``Registry.info``."""
        connection = self._local.get(connection_id)
        if connection is not None:
            return connection.info()
        reply = await self._ask("info", connection_id)
        if reply.info is None:
            raise RegistryError(f"the owner of {connection_id} answered info without it")
        return reply.info

    async def close(self, connection_id: str) -> None:
        """See ``Registry.close``."""
        connection = self._local.get(connection_id)
        if connection is not None:
            await connection.close_by_api()
            return
        await self._ask("close", connection_id)

    def local(self, connection_id: str) -> LocalConnection | None:
        """See ``Registry.local``: a dict read, atomic for other threads."""
        return self._local.get(connection_id)

    def local_connections(self) -> list[LocalConnection]:
        """See ``Registry.local_connections``."""
        return list(self._local.values())

    # Asking the owning node

    async def _ask(
        self, operation: Operation, connection_id: str, data: str | bytes | None = None
    ) -> Reply:
        """Have the node owning ``connection_id`` carry out ``operation``; its reply.

        Raises:
            Gone: no live node owns the id, or the owner did not answer in time.
            BufferFull: the owner's connection refused the message.
            RegistryError: Redis cannot be reached, or the owner's connection failed.
        """
        # Redis is spoken to by the coalescer's own task: this call may begin outside any
        # task (the front door's first step), and is in one by the time it times a reply.
        self._client()  # started, and not closed
        request_id = next(self._request_ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        request = Request(request_id, self.node_id, operation, connection_id, data)
        try:
            try:
                received = await self._coalescer.script(
                    self._deliver,
                    [self._conn_key(connection_id), self._node_key, self._recovering_key],
                    [self._node_keys, self._inbox(""), self.node_id, encode_request(request)],
                )
            except RedisError as exc:
                raise RegistryError(f"registry unavailable: {exc}") from exc
            if received == -2:
                # Redis lost the directory lately: the owner may not have entered it again.
                raise RegistryError(
                    f"registry: {connection_id} not in the directory while it is rebuilt"
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

    # Serving other nodes

    async def _read_inbox(self, pubsub: PubSub) -> None:
        """Take requests and replies from this node's inbox until cancelled."""
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except Exception as exc:  # the inbox must outlive any one failure
                # redis-py reconnects and subscribes again at the next read.
                log.warning("registry: inbox of node %s: %s", self.node_id, exc)
                await asyncio.sleep(min(1.0, self._lease / 3))
                continue
            if message is not None and message.get("type") == "message":
                self._received(bytes(message["data"]))

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
            self._client()  # not closed meanwhile
            await self._coalescer.publish(self._inbox(request.reply_to), reply)
        except (RedisError, RegistryError) as exc:  # RegistryError: closed meanwhile
            log.warning("registry: could not answer node %s: %s", request.reply_to, exc)

    # The lease

    async def _keep_lease(self) -> None:
        """Renew the lease at a third of its length; write the entries again if it lapsed,
        close the connections if other nodes took this one for dead and reaped them."""
        client = self._client()
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                renewed = await self._renew(
                    keys=[self._node_key, self._recovering_key, self._tombstone(self.node_id)],
                    args=[self._lease_ms, self._lease_ms],
                    client=client,
                )
                if renewed == -1:
                    self._reaped()
                elif renewed == 0:
                    # Other nodes took this node for dead and may have removed its entries,
                    # or Redis restarted empty.
                    log.warning("registry: the lease of node %s had lapsed", self.node_id)
                    self._reclaim = True
                if self._reclaim:
                    await self._claim_all(client)
                if self._unreleased:
                    await self._release_all(client)
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

    async def _claim_all(self, client: aioredis.Redis) -> None:
        """Enter every connection of this node in the directory again."""
        self._reclaim = False
        ids = [*self._local, *self._reserved]
        pipe = client.pipeline(transaction=False)
        for connection_id in ids:
            await self._claim(
                keys=[self._conn_key(connection_id), self._entries_key, self._nodes_key],
                args=[
                    self.node_id,
                    self._node_keys,
                    self._entry_ttl_ms,
                    connection_id,
                    self._contexts.get(connection_id, b""),
                ],
                client=pipe,
            )
        try:
            claimed = await pipe.execute()
        except RedisError:
            self._reclaim = True
            raise
        for connection_id, done in zip(ids, claimed, strict=True):
            if not done:
                log.error("registry: %s is registered on another node", connection_id)

    async def _release_all(self, client: aioredis.Redis) -> None:
        """Remove the entries of connections unregistered while Redis was away."""
        ids, self._unreleased = self._unreleased, set()
        pipe = client.pipeline(transaction=False)
        for connection_id in ids:
            await self._release_in(pipe, connection_id)
        try:
            await pipe.execute()
        except RedisError:
            self._unreleased |= ids
            raise

    # Nodes that died

    async def _sweep(self) -> None:
        """Look for nodes whose lease lapsed once a lease (sooner when an operation found
        one), and reap their connections; only once ``on_orphan`` is set."""
        client = self._client()
        while True:
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
                dead = await self._find_dead(
                    keys=[self._nodes_key], args=[self._node_keys, self.node_id], client=client
                )
                for node_id in dead:
                    await self._reap_node(client, _text(node_id))
            except Exception as exc:  # the sweeper must outlive any one failure
                log.warning("registry: could not sweep dead nodes: %s", exc)

    async def _reap_node(self, client: aioredis.Redis, node_id: str) -> None:
        """Claim the connections of ``node_id`` (its lease lapsed) batch by batch and run
        the ``$disconnect`` of each one this node claimed."""
        more = True
        while more:
            claimed = await self._reap(
                keys=[
                    f"{self._node_keys}{node_id}",
                    self._entries(node_id),
                    self._tombstone(node_id),
                    self._nodes_key,
                ],
                args=[self._conn_key(""), node_id, _REAP_BATCH, self._entry_ttl_ms],
                client=client,
            )
            more = bool(claimed[0])
            pairs = claimed[1:]
            if pairs:
                log.warning(
                    "registry: node %s died; running $disconnect for %d of its connections",
                    node_id,
                    len(pairs) // 2,
                )
            for index in range(0, len(pairs), 2):
                connection_id = _text(pairs[index])
                try:
                    context = decode_context(connection_id, bytes(pairs[index + 1]))
                except ValueError as exc:
                    log.error("registry: orphan %s has no usable entry: %s", connection_id, exc)
                    continue
                self._orphaned(context)

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

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise RegistryError("the registry is not started")
        return self._redis

    def _conn_key(self, connection_id: str) -> str:
        return f"{self._prefix}conn:{connection_id}"

    def _inbox(self, node_id: str) -> str:
        return f"{self._prefix}inbox:{node_id}"

    def _entries(self, node_id: str) -> str:
        return f"{self._prefix}conns:{node_id}"

    def _tombstone(self, node_id: str) -> str:
        return f"{self._prefix}reaped:{node_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _outcome(reply: Reply, connection_id: str) -> Reply:
    """``reply`` if it is a success; else the exception it stands for."""
    if reply.outcome == "ok":
        return reply
    if reply.outcome == "gone":
        raise Gone(connection_id)
    if reply.outcome == "full":
        raise BufferFull(connection_id)
    raise RegistryError(f"the owning node could not carry out the operation on {connection_id}")

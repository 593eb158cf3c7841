"""The Redis registry: gateway processes (nodes) sharing one Redis act as one API.

Every key and channel starts with the prefix::

    node:{nodeId}          a node's lease: a key with a TTL that the node keeps renewing
    conn:{connectionId}    the directory: the id of the node that owns the connection
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

Redis itself is only imported by this module, which only a gateway configured with the
redis backend imports. The scripts read keys (and publish on channels) they were not
handed, so this targets a single Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from wsgate.exceptions import BufferFull, ConfigError, DuplicateConnection, Gone, RegistryError
from wsgate.registry.base import ConnectionInfo, LocalConnection
from wsgate.registry.coalesce import Coalescer
from wsgate.registry.wire import (
    Operation,
    Outcome,
    Reply,
    Request,
    decode,
    encode_reply,
    encode_request,
)


__all__ = ["RedisRegistry"]

log = logging.getLogger("wsgate.registry")

# Hand a request to the node that owns the connection, in one round trip: the number of
# processes that received it (0: the owner's process ended), or -1 when no live node other
# than the asking one owns the id (an entry whose owner's lease lapsed is deleted).
# KEYS: conn key. ARGV: node key prefix, inbox prefix, the asking node's id, the request.
_DELIVER = """
local owner = redis.call('GET', KEYS[1])
if not owner or owner == ARGV[3] then return -1 end
if redis.call('EXISTS', ARGV[1] .. owner) == 0 then
  redis.call('DEL', KEYS[1])
  return -1
end
return redis.call('PUBLISH', ARGV[2] .. owner, ARGV[4])
"""

# Point the entry at this node unless another node with a live lease owns it: 1, else 0.
# KEYS: conn key. ARGV: this node's id, node key prefix, TTL in ms.
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""

# Delete the entry only if it still points at this node. KEYS: conn key. ARGV: node id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
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
    _release: AsyncScript

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
        self._local: dict[str, LocalConnection] = {}
        self._reserved: dict[str, asyncio.Event] = {}
        """Ids claimed for a connection whose 101 is being written; set once registered."""
        self._waiting: dict[int, asyncio.Future[Reply]] = {}
        """This node's operations on other nodes' connections, by request id."""
        self._request_ids = itertools.count()
        self._redis: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        """The inbox reader and the lease keeper."""
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
            await client.set(self._node_key, b"1", px=self._lease_ms)
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
        self._deliver = client.register_script(_DELIVER)
        self._coalescer = Coalescer(client)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_inbox(pubsub)),
            loop.create_task(self._keep_lease()),
        ]

    async def aclose(self) -> None:
        """Stop listening and renewing, remove this node's keys, close the client."""
        tasks, self._tasks = self._tasks + list(self._answering), []
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
            for connection_id in [*self._local, *self._reserved]:
                await self._release(
                    keys=[self._conn_key(connection_id)], args=[self.node_id], client=pipe
                )
            pipe.delete(self._node_key)
            await pipe.execute()
        except RedisError as exc:
            log.warning("registry: could not remove node %s's keys: %s", self.node_id, exc)
        finally:
            self._local.clear()
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
                keys=[self._conn_key(connection_id)],
                args=[self.node_id, self._node_keys, self._entry_ttl_ms],
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

    async def unregister(self, connection_id: str) -> None:
        """See ``Registry.unregister``. Never raises: a session's ``$disconnect`` follows."""
        reserved = self._reserved.pop(connection_id, None)
        if reserved is not None:
            reserved.set()  # the upgrade failed: whoever waits for it finds it gone
        elif self._local.pop(connection_id, None) is None:
            return
        if self._redis is None:
            return
        try:
            await self._release(keys=[self._conn_key(connection_id)], args=[self.node_id])
        except RedisError as exc:
            # The entry stays until its TTL; asked through it, this node answers Gone.
            log.warning("registry: could not remove %s from the directory: %s", connection_id, exc)

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
                    [self._conn_key(connection_id)],
                    [self._node_keys, self._inbox(""), self.node_id, encode_request(request)],
                )
            except RedisError as exc:
                raise RegistryError(f"registry unavailable: {exc}") from exc
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
        """Renew the lease at a third of its length; write the entries again if it lapsed."""
        client = self._client()
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                if not await client.pexpire(self._node_key, self._lease_ms):
                    # Other nodes took this node for dead and may have removed its entries.
                    log.warning("registry: the lease of node %s had lapsed", self.node_id)
                    await client.set(self._node_key, b"1", px=self._lease_ms)
                    self._reclaim = True
                if self._reclaim:
                    await self._claim_all(client)
            except Exception as exc:  # the lease must outlive any one failure
                log.warning("registry: could not renew node %s's lease: %s", self.node_id, exc)

    async def _claim_all(self, client: aioredis.Redis) -> None:
        """Enter every connection of this node in the directory again."""
        self._reclaim = False
        ids = [*self._local, *self._reserved]
        pipe = client.pipeline(transaction=False)
        for connection_id in ids:
            await self._claim(
                keys=[self._conn_key(connection_id)],
                args=[self.node_id, self._node_keys, self._entry_ttl_ms],
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

    # Names

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise RegistryError("the registry is not started")
        return self._redis

    def _conn_key(self, connection_id: str) -> str:
        return f"{self._prefix}conn:{connection_id}"

    def _inbox(self, node_id: str) -> str:
        return f"{self._prefix}inbox:{node_id}"


def _outcome(reply: Reply, connection_id: str) -> Reply:
    """``reply`` if it is a success; else the exception it stands for."""
    if reply.outcome == "ok":
        return reply
    if reply.outcome == "gone":
        raise Gone(connection_id)
    if reply.outcome == "full":
        raise BufferFull(connection_id)
    raise RegistryError(f"the owning node could not carry out the operation on {connection_id}")

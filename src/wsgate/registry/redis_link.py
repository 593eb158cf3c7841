"""One Redis, or one Redis Cluster, as the Redis registry speaks to it: scripts and
publishes sent in pipelines, the nodes listening, and a node's inbox subscription.

On a single Redis the inbox is a classic channel (PUBLISH, SUBSCRIBE: any version). On a
cluster it is a shard channel (SPUBLISH, SSUBSCRIBE: Redis 7): a message stays on the node
serving the channel's slot instead of crossing the whole cluster's bus, and the count of
receivers SPUBLISH answers is the true one, which a node's death is told by. The
subscription is held on the node serving the slot, and taken again on whichever node
serves it after a failover or a slot migration.

Only redis-py errors leave this module: a cluster's own ones are raised as ``RedisError``,
and so is a Redis that does not answer in time: every call but the inbox's wait for its
next message is bounded (``Link.timeout``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from wsgate.registry.redis_scripts import Script


__all__ = [
    "COMMANDS_PER_TIMEOUT",
    "Call",
    "Command",
    "Inbox",
    "Link",
    "Publish",
    "as_text",
    "connect",
]

T = TypeVar("T")

COMMANDS_PER_TIMEOUT = 1000
"""A pipeline is given the link's timeout once more per this many commands: the one that
enters all of a node's connections again may hold thousands."""


@dataclass(frozen=True, slots=True)
class Call:
    """A script run with its keys and arguments."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Publish:
    """A message for a node's inbox."""

    channel: str
    message: bytes


Command = Call | Publish


async def connect(url: str, *, cluster: bool, max_connections: int, timeout: float) -> Link:
    """A link to the Redis (or the cluster one of whose nodes is) at ``url``, once it
    answers.

    Raises:
        RedisError: it cannot be reached, or does not answer in time.
        ValueError: ``url`` is not a Redis URL.
    """
    client: aioredis.Redis | RedisCluster
    if cluster:
        # The other nodes come from CLUSTER SLOTS, asked again when a slot moves. A few
        # connections past the pipelines' for the commands sent beside them.
        client = RedisCluster.from_url(url, max_connections=max_connections + 8)
    else:
        # Blocking: a burst of operations waits for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=timeout
        )
        client = aioredis.Redis.from_pool(pool)
    link = Link(client, url, max_connections=max_connections, timeout=timeout)
    try:
        await link.answer(client.ping())
    except BaseException:
        await link.aclose()
        raise
    return link


class Link:
    """A started client, standalone or cluster."""

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        url: str,
        *,
        max_connections: int = 64,
        timeout: float = 3.0,
    ) -> None:
        self.client = client
        self._url = url
        self.cluster = isinstance(client, RedisCluster)
        # A cluster client fails a command when a node has no connection free, where the
        # single Redis's blocking pool waits: pipelines wait here for one instead.
        self._free = asyncio.Semaphore(max_connections) if self.cluster else None
        self.timeout = timeout
        """Seconds a call waits for Redis's answer (a long pipeline: this per
        ``COMMANDS_PER_TIMEOUT`` commands) before it fails with ``RedisError``."""
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        """What ``DELIVER`` publishes with."""

    async def answer(self, call: Awaitable[T], commands: int = 1) -> T:
        """What ``call`` to Redis (of ``commands`` commands) answers, within the timeout.

        Raises:
            RedisError: it failed, or no answer came in time.
        """
        within = self.timeout * (1 + commands // COMMANDS_PER_TIMEOUT)
        try:
            async with asyncio.timeout(within):
                return await call
        except TimeoutError:
            raise RedisError(f"Redis did not answer within {within:g} s") from None
        except RedisClusterException as exc:
            raise RedisError(f"Redis Cluster: {exc}") from exc

    async def load(self, scripts: Sequence[Script]) -> None:
        """Load ``scripts`` (on every primary of a cluster)."""
        for script in scripts:
            await self.answer(self.client.script_load(script.source))

    async def read_hash(self, key: str) -> dict[str, str]:
        """Every field of the hash at ``key`` with its value, as text."""
        found = await self.answer(self.client.hgetall(key))
        return {as_text(field): as_text(value) for field, value in found.items()}

    async def scan_hash(self, key: str, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """About ``count`` fields of the hash at ``key`` from ``cursor``, and the cursor of
        the rest (0: none left)."""
        cursor, page = await self.answer(self.client.hscan(key, cursor, count=count))
        return int(cursor), [_bytes(field) for field in page]

    async def run(self, call: Call) -> Any:
        """What the script returns; raises its error."""
        (result,) = await self.execute([call])
        if isinstance(result, Exception):
            raise result
        return result

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one pipeline; each one's result, or its error in its place.

        A script Redis does not hold (it restarted, or a replica took over: scripts are
        not replicated) is loaded and its commands sent again.

        Raises:
            RedisError: Redis could not be reached, or did not answer in time.
        """
        results = await self._pipelined(commands)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:
            scripts = {command.script for command in commands if isinstance(command, Call)}
            await self.load(list(scripts))
            again = await self._pipelined([commands[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    async def _pipelined(self, commands: Sequence[Command]) -> list[Any]:
        free = self._free
        if free is None:
            return await self._send(commands)
        try:
            async with asyncio.timeout(self.timeout):
                await free.acquire()
        except TimeoutError:
            raise RedisError("no Redis connection came free in time") from None
        try:
            return await self._send(commands)
        finally:
            free.release()

    async def _send(self, commands: Sequence[Command]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            if isinstance(command, Call):
                keys = command.keys
                pipe.evalsha(command.script.sha, len(keys), *keys, *command.args)
            else:
                pipe.execute_command(self.publish_command, command.channel, command.message)
        results: list[Any] = await self.answer(pipe.execute(raise_on_error=False), len(commands))
        return results

    async def listening(self, pattern: str) -> list[bytes]:
        """The inboxes matching ``pattern`` someone listens on."""
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node_from_key(pattern)  # the pattern holds the tag
            channels = self.client.execute_command(
                "PUBSUB", "SHARDCHANNELS", pattern, target_nodes=node
            )
            found: list[bytes] = await self.answer(channels)
            return found
        names = await self.answer(self.client.pubsub_channels(pattern))
        return [_bytes(channel) for channel in names]

    def inbox(self, channel: str) -> Inbox:
        return Inbox(self, channel)

    def node_client(self, channel: str) -> aioredis.Redis:
        """A plain client on the cluster node serving ``channel``'s slot, as ``url``
        reaches nodes (credentials, TLS)."""
        assert isinstance(self.client, RedisCluster)
        node = self.client.get_node_from_key(channel)
        if node is None:
            raise RedisError(f"Redis Cluster: no node serves {channel}'s slot")
        options: dict[str, Any] = {**parse_url(self._url), "db": 0}
        options.update(host=node.host, port=node.port)
        return aioredis.Redis(connection_pool=aioredis.ConnectionPool(**options))

    async def aclose(self) -> None:
        await self.client.aclose()


class Inbox:
    """A node's channel, subscribed until closed."""

    def __init__(self, link: Link, channel: str) -> None:
        self._link = link
        self._channel = channel
        self._pubsub: PubSub | None = None
        self._node: aioredis.Redis | None = None
        """A cluster's: the client on the node the subscription is held on."""

    async def open(self, timeout: float) -> None:
        """Subscribe; once Redis confirmed it, nothing published afterwards is lost."""
        link = self._link
        if link.cluster:
            # A keyed command first: it follows a moved slot and refreshes the client's map.
            await link.answer(link.client.exists(self._channel))
            self._node = link.node_client(self._channel)
            self._pubsub = self._node.pubsub()
            await link.answer(self._pubsub.ssubscribe(self._channel))
        else:
            self._pubsub = link.client.pubsub()
            await link.answer(self._pubsub.subscribe(self._channel))
        async with asyncio.timeout(timeout):
            while await self._pubsub.get_message(timeout=timeout) is None:
                pass

    async def next(self, timeout: float) -> bytes:
        """The next message.

        Raises:
            RedisError, OSError: the subscription failed; the next call takes it again.
        """
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                await self.open(timeout)
                continue
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisError, OSError):
                if self._link.cluster:
                    await self._drop()  # to be taken again where the slot is served now
                raise  # a single Redis's client subscribes again at the next read
            if message is None:
                continue
            kind = message.get("type")
            if kind in ("message", "smessage"):
                return bytes(message["data"])
            if kind == "sunsubscribe":
                await self._drop()  # the slot moved away from that node

    async def _drop(self) -> None:
        pubsub, node = self._pubsub, self._node
        self._pubsub = self._node = None
        try:
            if pubsub is not None:
                await pubsub.aclose()
            if node is not None:
                await node.aclose()
        except (RedisError, OSError):
            pass

    async def aclose(self) -> None:
        await self._drop()


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def as_text(value: bytes | str) -> str:
    """A reply's field as text: redis-py gives bytes unless told to decode."""
    return value.decode() if isinstance(value, bytes) else value

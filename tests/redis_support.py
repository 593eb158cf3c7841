"""A real Redis for the tests: where it is, a key prefix of each test's own, cleanup;
and a real Redis Cluster of three primaries, started from ``redis-server`` in a temporary
directory for the test session.

Tests never mock Redis. Without one a test is skipped, except in CI (``CI`` set), where
it fails: CI must run every test.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from tests.server_support import free_port, program, unavailable, wait_until


REDIS_URL = os.environ.get("WSGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@functools.cache
def _unreachable() -> str | None:
    """Why no Redis answers at ``REDIS_URL``; None when one does. Asked once per run."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def require_redis() -> str:
    """``REDIS_URL``, once a Redis answers there; else skip, or fail in CI."""
    reason = _unreachable()
    if reason is not None:
        unavailable(f"no Redis at {REDIS_URL} ({reason}); set WSGATE_TEST_REDIS_URL")
    return REDIS_URL


def unique_prefix() -> str:
    """A key prefix no other test (nor a parallel run) uses."""
    return f"wsgate-test-{uuid.uuid4().hex}:"


@dataclass(frozen=True)
class RedisTarget:
    """A Redis the tests run against: a single one, or a cluster through one of its nodes."""

    url: str
    cluster: bool = False

    def client(self) -> aioredis.Redis:
        """A client as another party would have; a cluster's follows its slots. (Typed as
        the plain client: the commands the tests send are the same.)"""
        if self.cluster:
            cluster: aioredis.Redis = RedisCluster.from_url(self.url)  # type: ignore[assignment]
            return cluster
        return aioredis.Redis.from_url(self.url)


async def keys_under(prefix: str, target: RedisTarget | None = None) -> list[bytes]:
    """Every key of the registry prefix ``prefix`` (``{prefix...}:...``, the hash tag the
    registry puts its prefix in)."""
    client = (target or RedisTarget(REDIS_URL)).client()
    try:
        match = f"{{{prefix.rstrip(':')}*"
        return [key async for key in client.scan_iter(match=match, count=1000)]
    finally:
        await client.aclose()


async def delete_keys(prefix: str, target: RedisTarget | None = None) -> None:
    """Remove every key of the registry prefix ``prefix``."""
    keys = await keys_under(prefix, target)
    if keys:
        client = (target or RedisTarget(REDIS_URL)).client()
        try:
            await client.delete(*keys)
        finally:
            await client.aclose()


def redis_server() -> str:
    """The ``redis-server`` program, for tests that start (and stop) a Redis of their own;
    else skip, or fail in CI."""
    return program("redis-server")


async def start_redis(server: str, port: int) -> asyncio.subprocess.Process:
    """A Redis of the test's own, empty, on ``port``; once it answers."""
    process = await asyncio.create_subprocess_exec(
        server,
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=subprocess.DEVNULL,
    )
    answers = _quietly(lambda: bool(_ask(port, "PING")))
    await asyncio.to_thread(
        wait_until, answers, "the test's redis-server never answered", timeout=10
    )
    return process


# --- a Redis Cluster of the session's own ---------------------------------------------


@dataclass
class LocalCluster:
    """Three primaries on free ports, each with its own folder (its ``nodes.conf``)."""

    directory: Path
    ports: list[int]
    bus_ports: list[int]
    """The cluster bus's: a node started again keeps its own, as its peers know it."""
    processes: list[subprocess.Popen[bytes]]

    @property
    def target(self) -> RedisTarget:
        return RedisTarget(f"redis://127.0.0.1:{self.ports[0]}", cluster=True)

    def serving(self, key: str) -> int:
        """The index of the node serving ``key``'s slot."""
        slot = int(_ask(self.ports[0], "CLUSTER KEYSLOT", key))
        for start, end, primary, *_ in _ask(self.ports[0], "CLUSTER SLOTS"):
            if start <= slot <= end:
                return self.ports.index(int(primary[1]))
        raise AssertionError(f"no node serves slot {slot}")

    def start(self, index: int) -> None:
        """Start node ``index`` (again: empty, its slots kept from its ``nodes.conf``)."""
        port, folder = self.ports[index], self.directory / str(index)
        folder.mkdir(exist_ok=True)
        self.processes[index] = subprocess.Popen(
            [
                *(redis_server(), "--port", str(port), "--bind", "127.0.0.1"),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-port", str(self.bus_ports[index]), "--cluster-node-timeout", "5000"),
                *("--save", "", "--appendonly", "no", "--dir", str(folder)),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(_quietly(lambda: bool(_ask(port, "PING"))), f"node {port} never answered")

    def stop(self, index: int) -> None:
        process = self.processes[index]
        if process.poll() is None:
            process.kill()
            process.wait()

    def wait_ok(self) -> None:
        """Until every node says the cluster serves every slot."""

        def ok(port: int) -> bool:
            return _ask(port, "CLUSTER INFO").get("cluster_state") in ("ok", b"ok")

        every = _quietly(lambda: all(ok(port) for port in self.ports))
        wait_until(every, "the cluster never became ok")

    def close(self) -> None:
        for index in range(len(self.processes)):
            self.stop(index)


def start_cluster(directory: Path, primaries: int = 3) -> LocalCluster:
    """A cluster of ``primaries`` nodes, no replicas, every slot served."""
    cli = program("redis-cli")
    ports = [free_port() for _ in range(primaries)]
    cluster = LocalCluster(directory, ports, [free_port() for _ in ports], [])
    try:
        for index in range(primaries):
            cluster.processes.append(subprocess.Popen(["true"]))  # replaced by start
            cluster.start(index)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        cluster.wait_ok()
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A Redis Cluster for the session; its nodes are stopped at the end."""
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.close()


def _ask(port: int, *command: str) -> Any:
    """What the node on ``port`` answers to ``command``."""
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def _quietly(ready: Callable[[], bool]) -> Callable[[], bool]:
    """``ready``, with a Redis error (not up yet) taken for False."""

    def check() -> bool:
        try:
            return ready()
        except redis.RedisError:
            return False

    return check

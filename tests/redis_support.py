"""A real Redis for the tests: where it is, a key prefix of each test's own, cleanup.

Tests never mock Redis. Without one a test is skipped, except in CI (``CI`` set), where
it fails: CI must run every test.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import subprocess
import uuid

import pytest
import redis
import redis.asyncio as aioredis


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
        message = f"no Redis at {REDIS_URL} ({reason}); set WSGATE_TEST_REDIS_URL"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


def unique_prefix() -> str:
    """A key prefix no other test (nor a parallel run) uses."""
    return f"wsgate-test-{uuid.uuid4().hex}:"


async def keys_under(prefix: str) -> list[bytes]:
    """Every key that starts with ``prefix``."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    finally:
        await client.aclose()


async def delete_keys(prefix: str) -> None:
    """Remove every key that starts with ``prefix``."""
    keys = await keys_under(prefix)
    if keys:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.delete(*keys)
        finally:
            await client.aclose()


def redis_server() -> str:
    """The ``redis-server`` program, for tests that start (and stop) a Redis of their own;
    else skip, or fail in CI."""
    program = shutil.which("redis-server")
    if program is None:
        message = "no redis-server on PATH"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return program


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_redis(program: str, port: int) -> asyncio.subprocess.Process:
    """A Redis of the test's own, empty, on ``port``; once it answers."""
    process = await asyncio.create_subprocess_exec(
        program,
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=subprocess.DEVNULL,
    )
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    try:
        while True:
            try:
                if await client.ping():
                    break
            except aioredis.RedisError:
                pass
            assert loop.time() < deadline, "the test's redis-server never answered"
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()
    return process

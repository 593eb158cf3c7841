"""The coalescer against a real Redis: one pipeline per turn, each caller its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from tests.redis_support import free_port, require_redis
from wsgate.exceptions import RegistryError
from wsgate.registry.coalesce import Coalescer


# Returns its argument, or fails when asked to: one bad command among good ones.
ECHO_OR_FAIL = """
if ARGV[1] == 'fail' then return redis.error_reply('asked to fail') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


class CountingRedis(aioredis.Redis):
    """A client that counts the pipelines it makes."""

    pipelines = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        self.pipelines += 1
        return super().pipeline(*args, **kwargs)


@pytest.fixture
async def client() -> AsyncIterator[CountingRedis]:
    redis = CountingRedis(connection_pool=aioredis.ConnectionPool.from_url(require_redis()))
    try:
        yield redis
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()


async def test_one_turns_commands_go_in_one_pipeline_each_with_its_answer(
    client: CountingRedis, prefix: str
) -> None:
    script = client.register_script(ECHO_OR_FAIL)
    coalescer = Coalescer(client)
    listener = client.pubsub()
    await listener.subscribe(f"{prefix}channel")
    try:
        values = [f"v{n}" for n in range(100)]
        calls = [coalescer.script(script, [f"{prefix}k{n}"], [v]) for n, v in enumerate(values)]
        calls.append(coalescer.publish(f"{prefix}channel", b"hello"))
        calls.append(coalescer.script(script, [f"{prefix}bad"], ["fail"]))
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await listener.aclose()
    assert client.pipelines == 1
    assert results[:100] == [v.encode() for v in values]
    assert results[100] == 1  # the one subscriber got it
    assert isinstance(results[101], ResponseError)
    assert await client.get(f"{prefix}k42") == b"v42"

    # A later turn is a pipeline of its own.
    assert await coalescer.script(script, [f"{prefix}again"], ["x"]) == b"x"
    assert client.pipelines == 2


async def test_an_unreachable_redis_fails_every_caller() -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        coalescer = Coalescer(client)
        calls = [coalescer.publish("c", b"m") for _ in range(3)]
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await client.aclose()
    assert all(isinstance(result, RedisError) for result in results), results


async def test_closing_fails_the_callers_still_waiting(client: CountingRedis) -> None:
    coalescer = Coalescer(client)
    waiting = asyncio.ensure_future(coalescer.publish("c", b"m"))
    await asyncio.sleep(0)  # queued; its pipeline is about to be sent
    await coalescer.aclose()
    with pytest.raises(RegistryError):
        await waiting

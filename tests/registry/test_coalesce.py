"""The coalescer against a real Redis (and a real Redis Cluster): one pipeline per turn,
each caller its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from tests.redis_support import RedisTarget
from tests.server_support import free_port
from wsgate.exceptions import RegistryError
from wsgate.registry.coalesce import Coalescer
from wsgate.registry.redis_link import Link, connect
from wsgate.registry.redis_scripts import Script


# Returns its argument, or fails when asked to: one bad command among good ones.
ECHO_OR_FAIL = """
if ARGV[1] == 'fail' then return redis.error_reply('asked to fail') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


def unloaded(prefix: str) -> Script:
    """The script under a name Redis cannot hold yet: its source ends with a comment of
    the test's own."""
    return Script.of(f"{ECHO_OR_FAIL}-- {prefix}\n")


class Counted:
    """Counts the pipelines a link's client makes."""

    def __init__(self, link: Link) -> None:
        self.pipelines = 0
        make = link.client.pipeline

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            self.pipelines += 1
            return make(*args, **kwargs)

        link.client.pipeline = pipeline  # type: ignore[method-assign]


@pytest.fixture
async def link(redis_target: RedisTarget) -> AsyncIterator[Link]:
    link = await connect(
        redis_target.url, cluster=redis_target.cluster, max_connections=8, timeout=1.0
    )
    try:
        yield link
    finally:
        await link.aclose()


async def test_one_turns_commands_go_in_one_pipeline_each_with_its_answer(
    link: Link, prefix: str
) -> None:
    script = unloaded(prefix)
    await link.load([script])
    tag = f"{{{prefix}}}:"
    inbox = link.inbox(f"{tag}channel")
    await inbox.open(5)
    counted = Counted(link)
    coalescer = Coalescer(link)
    try:
        values = [f"v{n}" for n in range(100)]
        calls = [coalescer.script(script, [f"{tag}k{n}"], [v]) for n, v in enumerate(values)]
        calls.append(coalescer.publish(f"{tag}channel", b"hello"))
        calls.append(coalescer.script(script, [f"{tag}bad"], ["fail"]))
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert await asyncio.wait_for(inbox.next(5), 5) == b"hello"
    finally:
        await inbox.aclose()
    assert counted.pipelines == 1
    assert results[:100] == [v.encode() for v in values]
    assert results[100] == 1  # the one subscriber got it
    assert isinstance(results[101], ResponseError)
    assert await link.client.get(f"{tag}k42") == b"v42"

    # A later turn is a pipeline of its own.
    assert await coalescer.script(script, [f"{tag}again"], ["x"]) == b"x"
    assert counted.pipelines == 2


async def test_a_script_redis_does_not_hold_is_loaded_and_sent_again(
    link: Link, prefix: str
) -> None:
    """Redis forgets scripts when it restarts, and a replica that takes over may never
    have had them: the commands that met NOSCRIPT are sent again once it is loaded."""
    script, tag = unloaded(prefix), f"{{{prefix}}}:"
    counted = Counted(link)
    coalescer = Coalescer(link)
    results = await asyncio.gather(
        coalescer.script(script, [f"{tag}a"], ["a"]), coalescer.script(script, [f"{tag}b"], ["b"])
    )
    assert list(results) == [b"a", b"b"]
    assert counted.pipelines == 2


async def test_an_unreachable_redis_fails_every_caller() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    link = Link(aioredis.Redis.from_url(url), url)
    try:
        coalescer = Coalescer(link)
        calls = [coalescer.publish("c", b"m") for _ in range(3)]
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await link.aclose()
    assert all(isinstance(result, RedisError) for result in results), results


async def test_closing_fails_the_callers_still_waiting(link: Link) -> None:
    coalescer = Coalescer(link)
    waiting = asyncio.ensure_future(coalescer.publish("{c}:c", b"m"))
    await asyncio.sleep(0)  # queued; its pipeline is about to be sent
    await coalescer.aclose()
    with pytest.raises(RegistryError):
        await waiting

"""Fixtures of the registry tests: each Redis test runs on a single Redis and on a Redis
Cluster of the session's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.redis_support import (
    RedisTarget,
    delete_keys,
    redis_cluster,
    require_redis,
    unique_prefix,
)


__all__ = ["redis_cluster"]  # a fixture


@pytest.fixture(params=["single", "cluster"])
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    """The Redis a test runs against: one Redis, or a cluster through one of its nodes."""
    if request.param == "cluster":
        target: RedisTarget = request.getfixturevalue("redis_cluster").target
        return target
    return RedisTarget(require_redis())


@pytest.fixture
async def prefix(redis_target: RedisTarget) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = unique_prefix()
    yield prefix
    await delete_keys(prefix, redis_target)

"""Fixtures of the registry tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.redis_support import delete_keys, require_redis, unique_prefix


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    require_redis()
    prefix = unique_prefix()
    yield prefix
    await delete_keys(prefix)

"""The in-memory registry against the shared contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.registry.contract import RegistryContract
from wsgate.registry import Registry, create_registry
from wsgate.registry.memory import MemoryRegistry


_: type[Registry] = MemoryRegistry


class TestMemoryRegistry(RegistryContract):
    @pytest.fixture
    async def registry(self) -> AsyncIterator[Registry]:
        registry = create_registry("memory")
        await registry.start()
        yield registry
        await registry.aclose()

"""The behaviour every Registry backend must have; backends' test modules run it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from wsgate.exceptions import DuplicateConnection, Gone
from wsgate.registry.base import ConnectionInfo, LocalConnection, Registry


class RecordingConnection:
    """A LocalConnection that keeps what reaches it."""

    def __init__(self, connection_id: str) -> None:
        self._id = connection_id
        self.received: list[str | bytes] = []
        self.closed_by_api = False
        self.going_away = False

    @property
    def connection_id(self) -> str:
        return self._id

    def info(self) -> ConnectionInfo:
        if self.closed_by_api:
            raise Gone(self._id)
        return ConnectionInfo(self._id, 1_700_000_000_000, 1_700_000_000_500, "10.0.0.1", None)

    async def send(self, data: str | bytes) -> None:
        if self.closed_by_api:
            raise Gone(self._id)
        self.received.append(data)

    def send_threadsafe(self, data: str | bytes) -> bool:
        if self.closed_by_api:
            return False
        self.received.append(data)
        return True

    async def close_by_api(self) -> None:
        if self.closed_by_api:
            raise Gone(self._id)
        self.closed_by_api = True

    async def close_going_away(self, answer_within: float) -> None:
        self.going_away = True


_: type[LocalConnection] = RecordingConnection


class RegistryContract:
    """Subclass with a ``registry`` fixture yielding a started backend."""

    @pytest.fixture
    async def registry(self) -> AsyncIterator[Registry]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    def id(self, registry: Registry, letter: str) -> str:
        """A connectionId of the test's own, one per letter; backends may make them as
        their own ids look."""
        return letter * 15 + "="

    async def test_send_info_and_close_reach_the_owner(self, registry: Registry) -> None:
        conn = RecordingConnection(self.id(registry, "A"))
        await registry.register(conn)
        await registry.send(self.id(registry, "A"), "text")
        await registry.send(self.id(registry, "A"), b"\x00bytes")
        assert conn.received == ["text", b"\x00bytes"]
        info = await registry.info(self.id(registry, "A"))
        assert info.source_ip == "10.0.0.1" and info.last_active_at == 1_700_000_000_500
        await registry.close(self.id(registry, "A"))
        assert conn.closed_by_api
        with pytest.raises(Gone):
            await registry.close(self.id(registry, "A"))

    async def test_unknown_and_unregistered_ids_are_gone(self, registry: Registry) -> None:
        for operation in (
            registry.send(self.id(registry, "B"), "x"),
            registry.info(self.id(registry, "B")),
            registry.close(self.id(registry, "B")),
        ):
            with pytest.raises(Gone):
                await operation
        conn = RecordingConnection(self.id(registry, "B"))
        await registry.register(conn)
        await registry.unregister(self.id(registry, "B"))
        await registry.unregister(self.id(registry, "B"))  # idempotent
        with pytest.raises(Gone):
            await registry.send(self.id(registry, "B"), "x")
        assert conn.received == []

    async def test_an_id_cannot_be_registered_twice(self, registry: Registry) -> None:
        await registry.register(RecordingConnection(self.id(registry, "C")))
        with pytest.raises(DuplicateConnection):
            await registry.register(RecordingConnection(self.id(registry, "C")))

    async def test_local_connections_lists_this_process_only_while_registered(
        self, registry: Registry
    ) -> None:
        first, second = (
            RecordingConnection(self.id(registry, "D")),
            RecordingConnection(self.id(registry, "E")),
        )
        await registry.register(first)
        await registry.register(second)
        assert {c.connection_id for c in registry.local_connections()} == {
            self.id(registry, "D"),
            self.id(registry, "E"),
        }
        await registry.unregister(self.id(registry, "D"))
        assert [c.connection_id for c in registry.local_connections()] == [self.id(registry, "E")]

    async def test_local_finds_this_process_connections_from_another_thread(
        self, registry: Registry
    ) -> None:
        conn = RecordingConnection(self.id(registry, "F"))
        await registry.register(conn)
        assert await asyncio.to_thread(registry.local, self.id(registry, "F")) is conn
        assert await asyncio.to_thread(registry.local, self.id(registry, "G")) is None
        await registry.unregister(self.id(registry, "F"))
        assert await asyncio.to_thread(registry.local, self.id(registry, "F")) is None

    async def test_a_reserved_id_is_taken_until_registered_or_released(
        self, registry: Registry
    ) -> None:
        await registry.reserve(self.id(registry, "H"))
        with pytest.raises(DuplicateConnection):
            await registry.reserve(self.id(registry, "H"))
        conn = RecordingConnection(self.id(registry, "H"))
        await registry.register(conn)
        await registry.send(self.id(registry, "H"), "after the 101")
        assert conn.received == ["after the 101"]
        with pytest.raises(DuplicateConnection):
            await registry.reserve(self.id(registry, "H"))
        # An upgrade that failed after its reservation gives the id back.
        await registry.reserve(self.id(registry, "J"))
        await registry.unregister(self.id(registry, "J"))
        with pytest.raises(Gone):
            await registry.send(self.id(registry, "J"), "x")
        await registry.reserve(self.id(registry, "J"))

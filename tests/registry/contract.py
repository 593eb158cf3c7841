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

    async def test_send_info_and_close_reach_the_owner(self, registry: Registry) -> None:
        conn = RecordingConnection("AAAAAAAAAAAAAAA=")
        await registry.register(conn)
        await registry.send("AAAAAAAAAAAAAAA=", "text")
        await registry.send("AAAAAAAAAAAAAAA=", b"\x00bytes")
        assert conn.received == ["text", b"\x00bytes"]
        info = await registry.info("AAAAAAAAAAAAAAA=")
        assert info.source_ip == "10.0.0.1" and info.last_active_at == 1_700_000_000_500
        await registry.close("AAAAAAAAAAAAAAA=")
        assert conn.closed_by_api
        with pytest.raises(Gone):
            await registry.close("AAAAAAAAAAAAAAA=")

    async def test_unknown_and_unregistered_ids_are_gone(self, registry: Registry) -> None:
        for operation in (
            registry.send("BBBBBBBBBBBBBBB=", "x"),
            registry.info("BBBBBBBBBBBBBBB="),
            registry.close("BBBBBBBBBBBBBBB="),
        ):
            with pytest.raises(Gone):
                await operation
        conn = RecordingConnection("BBBBBBBBBBBBBBB=")
        await registry.register(conn)
        await registry.unregister("BBBBBBBBBBBBBBB=")
        await registry.unregister("BBBBBBBBBBBBBBB=")  # idempotent
        with pytest.raises(Gone):
            await registry.send("BBBBBBBBBBBBBBB=", "x")
        assert conn.received == []

    async def test_an_id_cannot_be_registered_twice(self, registry: Registry) -> None:
        await registry.register(RecordingConnection("CCCCCCCCCCCCCCC="))
        with pytest.raises(DuplicateConnection):
            await registry.register(RecordingConnection("CCCCCCCCCCCCCCC="))

    async def test_local_connections_lists_this_process_only_while_registered(
        self, registry: Registry
    ) -> None:
        first, second = (
            RecordingConnection("DDDDDDDDDDDDDDD="),
            RecordingConnection("EEEEEEEEEEEEEEE="),
        )
        await registry.register(first)
        await registry.register(second)
        assert {c.connection_id for c in registry.local_connections()} == {
            "DDDDDDDDDDDDDDD=",
            "EEEEEEEEEEEEEEE=",
        }
        await registry.unregister("DDDDDDDDDDDDDDD=")
        assert [c.connection_id for c in registry.local_connections()] == ["EEEEEEEEEEEEEEE="]

    async def test_local_finds_this_process_connections_from_another_thread(
        self, registry: Registry
    ) -> None:
        conn = RecordingConnection("FFFFFFFFFFFFFFF=")
        await registry.register(conn)
        assert await asyncio.to_thread(registry.local, "FFFFFFFFFFFFFFF=") is conn
        assert await asyncio.to_thread(registry.local, "GGGGGGGGGGGGGGG=") is None
        await registry.unregister("FFFFFFFFFFFFFFF=")
        assert await asyncio.to_thread(registry.local, "FFFFFFFFFFFFFFF=") is None

    async def test_a_reserved_id_is_taken_until_registered_or_released(
        self, registry: Registry
    ) -> None:
        await registry.reserve("HHHHHHHHHHHHHHH=")
        with pytest.raises(DuplicateConnection):
            await registry.reserve("HHHHHHHHHHHHHHH=")
        conn = RecordingConnection("HHHHHHHHHHHHHHH=")
        await registry.register(conn)
        await registry.send("HHHHHHHHHHHHHHH=", "after the 101")
        assert conn.received == ["after the 101"]
        with pytest.raises(DuplicateConnection):
            await registry.reserve("HHHHHHHHHHHHHHH=")
        # An upgrade that failed after its reservation gives the id back.
        await registry.reserve("JJJJJJJJJJJJJJJ=")
        await registry.unregister("JJJJJJJJJJJJJJJ=")
        with pytest.raises(Gone):
            await registry.send("JJJJJJJJJJJJJJJ=", "x")
        await registry.reserve("JJJJJJJJJJJJJJJ=")

"""The in-memory registry: one process, a dict, direct calls."""

from __future__ import annotations

from wsgate.core.ids import new_id
from wsgate.exceptions import DuplicateConnection, Gone
from wsgate.registry.base import ConnectionInfo, LocalConnection


__all__ = ["MemoryRegistry"]


class MemoryRegistry:
    """Every connection lives in this process; an operation is a dict lookup and a call."""

    def __init__(self) -> None:
        self._connections: dict[str, LocalConnection] = {}
        self._reserved: set[str] = set()

    async def start(self) -> None:
        """Nothing to connect to."""

    def new_connection_id(self) -> str:
        """See ``Registry.new_connection_id``."""
        return new_id()

    async def reserve(self, connection_id: str) -> None:
        """See ``Registry.reserve``: the id is held; in one process nothing can ask for it
        before ``register``."""
        if connection_id in self._connections or connection_id in self._reserved:
            raise DuplicateConnection(connection_id)
        self._reserved.add(connection_id)

    async def register(self, connection: LocalConnection) -> None:
        """See ``Registry.register``; after ``reserve``, or alone."""
        connection_id = connection.connection_id
        if connection_id in self._connections:
            raise DuplicateConnection(connection_id)
        self._reserved.discard(connection_id)
        self._connections[connection_id] = connection

    async def unregister(self, connection_id: str) -> None:
        """See ``Registry.unregister``."""
        self._reserved.discard(connection_id)
        self._connections.pop(connection_id, None)

    def _lookup(self, connection_id: str) -> LocalConnection:
        try:
            return self._connections[connection_id]
        except KeyError:
            raise Gone(connection_id) from None

    async def send(self, connection_id: str, data: str | bytes) -> None:
        """See ``Registry.send``."""
        await self._lookup(connection_id).send(data)

    async def info(self, connection_id: str) -> ConnectionInfo:
        """See ``Registry.info``."""
        return self._lookup(connection_id).info()

    async def close(self, connection_id: str) -> None:
        """See ``Registry.close``."""
        await self._lookup(connection_id).close_by_api()

    def local(self, connection_id: str) -> LocalConnection | None:
        """See ``Registry.local``: a dict read, atomic for other threads."""
        return self._connections.get(connection_id)

    def local_connections(self) -> list[LocalConnection]:
        """See ``Registry.local_connections``."""
        return list(self._connections.values())

    async def aclose(self) -> None:
        """Forget every connection."""
        self._connections.clear()

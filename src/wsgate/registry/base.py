"""The Registry protocol: the only way to find, reach, describe or close a connection.

Nothing outside ``registry/`` may assume that a connection lives in this process: the
management API, handlers and the session all go through a ``Registry``. The in-memory
backend serves one process; a Redis backend serves many, behind the same five calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


__all__ = ["ConnectionInfo", "LocalConnection", "Registry"]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What ``GET @connections/{id}`` reports. Times are epoch milliseconds."""

    connection_id: str
    connected_at: int
    last_active_at: int
    source_ip: str
    user_agent: str | None


class LocalConnection(Protocol):
    """An established connection owned by this process, as the registry sees it."""

    @property
    def connection_id(self) -> str:
        """The connectionId handed to handlers."""
        ...

    def info(self) -> ConnectionInfo:
        """A snapshot for ``GET @connections``."""
        ...

    async def send(self, data: str | bytes) -> None:
        """Send one message: ``str`` as a text frame, ``bytes`` as a binary frame.

        Returns once the message is in the connection's outbound buffer; never waits for
        a slow client.

        Raises:
            Gone: the connection is closing or closed.
            BufferFull: the client is not reading; nothing was sent.
        """
        ...

    def send_threadsafe(self, data: str | bytes) -> bool:
        """Queue one message from a thread other than the event loop's, without waiting
        for the loop: True once it is queued behind every earlier send.

        False, with nothing queued, whenever only the loop can give the answer (the
        connection is closing, or its buffer may be full): the caller then asks the loop
        through ``send``. A message queued while the connection closes is dropped, as a
        message in flight is when a client leaves.
        """
        ...

    async def close_by_api(self) -> None:
        """Close as ``DELETE @connections`` does: code 1000, "Connection Closed Normally".

        Raises:
            Gone: the connection is already closing or closed.
        """
        ...

    async def close_going_away(self, answer_within: float) -> None:
        """Close with 1001 "Going away" (server shutdown); never raises. A client that has
        not answered the close frame within ``answer_within`` seconds is dropped."""
        ...


class Registry(Protocol):
    """Where connections live and how an operation reaches the one that owns an id."""

    async def start(self) -> None:
        """Connect to the backend; called once before the first connection."""
        ...

    def new_connection_id(self) -> str:
        """A fresh connectionId for a connection this process is about to open, in AWS's
        shape (``core.ids.new_id``); a backend may make it tell which process holds it."""
        ...

    async def reserve(self, connection_id: str) -> None:
        """Claim ``connection_id`` for this process before the client is told the
        connection is open, so that every process can reach it from the moment the client
        can know its id. ``register`` follows at once; ``unregister`` if the upgrade
        failed. Until ``register``, operations on the id wait for it (or are Gone).

        Raises:
            DuplicateConnection: the id is already taken.
        """
        ...

    async def register(self, connection: LocalConnection) -> None:
        """Make an established connection reachable by its id.

        Raises:
            DuplicateConnection: the id is already registered.
        """
        ...

    async def unregister(self, connection_id: str) -> None:
        """Forget a connection; later operations on its id raise ``Gone``. Idempotent."""
        ...

    async def send(self, connection_id: str, data: str | bytes) -> None:
        """Deliver one message; returns once the owning connection took it.

        Raises:
            Gone: no established connection has this id.
            BufferFull: the client is not reading; nothing was sent.
        """
        ...

    async def info(self, connection_id: str) -> ConnectionInfo:
        """Describe a connection. Raises ``Gone`` like ``send``."""
        ...

    async def close(self, connection_id: str) -> None:
        """Close a connection as ``DELETE @connections`` does. Raises ``Gone`` like ``send``."""
        ...

    def local(self, connection_id: str) -> LocalConnection | None:
        """The established connection with this id if this process owns it, else None.

        Safe to call from any thread: it only reads what the loop's thread maintains.
        """
        ...

    def local_connections(self) -> list[LocalConnection]:
        """The connections owned by this process (for shutdown and the connection cap)."""
        ...

    async def aclose(self) -> None:
        """Release the backend; called once after the last connection ended."""
        ...

"""The seam every authorizer implements: a handshake in, a decision out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest


__all__ = ["Authorized", "Authorizer", "Refused"]


@dataclass(frozen=True, slots=True)
class Authorized:
    """Let the handshake go on; ``context`` becomes ``requestContext.authorizer``."""

    context: dict[str, object]


@dataclass(frozen=True, slots=True)
class Refused:
    """Answer the handshake with ``status``; ``reason`` is for the log, never the client."""

    status: int
    reason: str


class Authorizer(Protocol):
    """Decides, once per connection and before ``$connect``, whether it may open."""

    async def authorize(
        self,
        api: ApiContext,
        connection: ConnectionContext,
        request: HandshakeRequest,
        request_id: str,
    ) -> Authorized | Refused:
        """Decide on one handshake. Never raises: every failure is a ``Refused``."""
        ...

    async def aclose(self) -> None:
        """Release what the authorizer holds (connections, tasks) when the gateway stops."""
        ...

"""The seam between a connection and the data plane that moves its bytes.

``WebSocketConnection`` speaks only to a ``Transport``; whatever carries the bytes calls
the connection's ``asyncio.Protocol`` methods (``data_received``, ``eof_received``,
``connection_lost``, ``pause_writing``, ``resume_writing``). asyncio's and uvloop's
transports fit the seam as they are, so the usual path costs nothing; another data plane
(a C parser, picows) or a test plugs in by implementing these few methods.
"""

from __future__ import annotations

from typing import Any, Protocol


__all__ = ["Transport"]


class Transport(Protocol):
    """The byte stream under one connection (a subset of ``asyncio.Transport``)."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` to be sent; never blocks. The transport calls the protocol's
        ``pause_writing`` once its buffer passes the high-water mark, and
        ``resume_writing`` once it drained below the low one."""
        ...

    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet sent."""
        ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the marks at which ``pause_writing`` and ``resume_writing`` are called."""
        ...

    def pause_reading(self) -> None:
        """Stop calling ``data_received`` until ``resume_reading``."""
        ...

    def resume_reading(self) -> None:
        """Call ``data_received`` again."""
        ...

    def is_closing(self) -> bool:
        """Whether ``close`` or ``abort`` was called, or the connection was lost."""
        ...

    def close(self) -> None:
        """Close once what was written is sent; ``connection_lost`` follows."""
        ...

    def abort(self) -> None:
        """Close at once, dropping what was not sent; ``connection_lost`` follows."""
        ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername``, ``sockname`` and the like."""
        ...

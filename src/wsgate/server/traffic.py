"""What a running gateway is doing now: its connections, their tasks, whether it drains.

Kept apart from ``Gateway``, which is the wiring built once from the config and never
changes after start.
"""

from __future__ import annotations

import asyncio


__all__ = ["Traffic"]


class Traffic:
    """The gateway's moving parts, on its loop."""

    __slots__ = ("connections", "draining", "tasks")

    def __init__(self) -> None:
        self.connections = 0
        """Handshakes in progress plus established connections in this process."""
        self.draining = False
        """Set at shutdown: new handshakes are refused."""
        self.tasks: set[asyncio.Task[None]] = set()
        """Each connection's task, from its handshake to its ``$disconnect``, and each
        management call that had to wait: what a shutdown waits for."""

    def track(self, task: asyncio.Task[None]) -> None:
        """Hold ``task`` until it is done, for the shutdown to wait for."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def admit(self, cap: int | None) -> bool:
        """Count one more connection unless ``cap`` is reached; whether it was counted."""
        if cap is not None and self.connections >= cap:
            return False
        self.connections += 1
        return True

    def release(self) -> None:
        """A connection counted by ``admit`` is over."""
        self.connections -= 1

"""Handlers for the runner's tests: a ``$disconnect`` that holds the drain open."""

from __future__ import annotations

import threading
from typing import Any


DISCONNECTING = threading.Event()
"""Set when ``held_disconnect`` begins."""
RELEASE = threading.Event()
"""Set by the test to let ``held_disconnect`` end."""


def held_disconnect(event: dict[str, Any], context: Any) -> None:
    DISCONNECTING.set()
    RELEASE.wait(10)


def default(event: dict[str, Any], context: Any) -> None:
    return None

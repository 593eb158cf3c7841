"""Suite-wide settings."""

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop
from hypothesis import settings


# Hypothesis's per-example deadline is a timing assertion: on a loaded 2-core CI machine a
# slow example says nothing about correctness, so it is off.
settings.register_profile("wsgate", deadline=None)
settings.load_profile("wsgate")


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event loops an async test runs on: asyncio's, and also uvloop's (what ``wsgate
    serve`` runs on) for a module that lists both in ``EVENT_LOOPS``, since the two differ
    where the gateway reads sockets itself (TLS on the plain port did)."""
    names = getattr(getattr(item, "module", None), "EVENT_LOOPS", ("asyncio",))
    return {name: LOOPS[name] for name in names}

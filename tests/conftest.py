"""Suite-wide settings."""

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop
from hypothesis import settings

from wsgate.compiled import PURE_ENV, sources_wanted, stale_extensions


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


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to test compiled modules older than their sources: Python would run the
    extensions and the edits would go untested (``make`` builds them again)."""
    stale = stale_extensions()
    if stale and not sources_wanted():
        names = ", ".join(str(path.relative_to(path.parents[2])) for path in stale)
        raise pytest.UsageError(
            f"compiled modules older than their sources ({names}): run `make test`, "
            f"or set {PURE_ENV}=1 to test the sources"
        )


def pytest_report_header(config: pytest.Config) -> str:
    """Whether this run tests the compiled hot path or its Python sources."""
    if sources_wanted():
        return f"wsgate hot path: Python sources ({PURE_ENV}=1)"
    return "wsgate hot path: compiled (mypyc)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``pure_python`` tests watch a module's globals, which compiled code does not read
    back: they run in the pure-Python pass of ``make test``, not in the compiled one."""
    if sources_wanted():
        return
    pure = [item for item in items if item.get_closest_marker("pure_python") is not None]
    if pure:
        config.hook.pytest_deselected(items=pure)
        items[:] = [item for item in items if item.get_closest_marker("pure_python") is None]

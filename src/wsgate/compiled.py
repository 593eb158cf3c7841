"""The compiled hot path: which modules run as C, and the switch back to their sources.

``setup.py`` compiles the modules every message and handshake goes through with mypyc,
into extension modules beside their sources, which Python then imports first. Set
``WSGATE_PURE_PYTHON=1`` to import the sources instead (a debugger, a traceback with the
hot path's lines, or the two compared); ``wsgate/__init__.py`` reads it before anything
else of wsgate is imported.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from pathlib import Path
from types import ModuleType


__all__ = [
    "HOT_PATH",
    "PURE_ENV",
    "SourcesFirst",
    "compiled_modules",
    "sources_wanted",
    "stale_extensions",
    "use_sources",
]

PURE_ENV = "WSGATE_PURE_PYTHON"
HOT_PATH = (
    "wsgate/auth/request.py",
    "wsgate/core/events.py",
    "wsgate/core/frames.py",
    "wsgate/core/framing.py",
    "wsgate/core/http1.py",
    "wsgate/core/identity.py",
    "wsgate/core/ids.py",
    "wsgate/core/management.py",
    "wsgate/core/policy.py",
    "wsgate/core/protocol.py",
    "wsgate/core/request.py",
    "wsgate/core/results.py",
    "wsgate/core/routing.py",
    "wsgate/core/upgrade.py",
    "wsgate/integrations/blocking.py",
    "wsgate/integrations/context.py",
    "wsgate/integrations/deadlines.py",
    "wsgate/integrations/handler.py",
    "wsgate/integrations/python.py",
    "wsgate/integrations/threads.py",
    "wsgate/server/connection.py",
    "wsgate/server/dispatch.py",
    "wsgate/server/frontdoor.py",
    "wsgate/server/gateway.py",
    "wsgate/server/handshake.py",
    "wsgate/server/lifecycle.py",
    "wsgate/server/management.py",
    "wsgate/server/onehop.py",
    "wsgate/server/session.py",
    "wsgate/server/traffic.py",
)
"""The modules ``setup.py`` compiles, under ``src/``: every message and handshake runs
through them. They must not ``await`` in a ``finally`` nor re-raise with a bare ``raise``
after an ``await`` (tests/test_compiled.py says why)."""
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)


class SourcesFirst(MetaPathFinder):
    """Finds a wsgate module's ``.py`` before the extension compiled from it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or not fullname.startswith("wsgate."):
            return None
        leaf = fullname.rpartition(".")[2]
        for folder in path:
            source = Path(folder, f"{leaf}.py")
            if source.is_file():
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package, or not wsgate's: the usual finders


def sources_wanted() -> bool:
    """Whether ``WSGATE_PURE_PYTHON`` asks for the sources rather than the extensions."""
    return bool(os.environ.get(PURE_ENV))


def use_sources() -> None:
    """Put :class:`SourcesFirst` in front when :func:`sources_wanted`."""
    if sources_wanted() and not any(isinstance(f, SourcesFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, SourcesFirst())


def compiled_modules() -> list[str]:
    """The wsgate modules imported so far that run compiled, by name."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("wsgate.") and str(getattr(module, "__file__", "")).endswith(_EXTENSIONS)
    )


def stale_extensions(package: Path | None = None, compiled: Sequence[str] = HOT_PATH) -> list[Path]:
    """Sources whose extension Python would run though it no longer matches them: edited
    after it was built, or taken out of ``compiled`` (paths as in ``HOT_PATH``, relative
    to the folder holding ``package``) since."""
    root = package or Path(__file__).resolve().parent
    listed = {root.parent / name for name in compiled}
    stale = []
    for suffix in _EXTENSIONS:
        for extension in root.rglob(f"*{suffix}"):
            source = extension.with_name(extension.name[: -len(suffix)] + ".py")
            if not source.is_file():
                continue
            if source not in listed or source.stat().st_mtime > extension.stat().st_mtime:
                stale.append(source)
    return sorted(stale)

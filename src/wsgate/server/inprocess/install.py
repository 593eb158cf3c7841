"""Adding the ``before-call`` handler and the client class's shortcuts to botocore,
whenever botocore is imported.

botocore is never imported here: both are added to ``botocore.handlers`` when that
module is (or already was) imported, so a gateway whose handlers never use boto3 pays
nothing for them. Before they are added, the botocore names they rely on are looked up; a
botocore without one of the hook's keeps every call on HTTP, which works, only slower, and
one whose client methods differ from what the shortcuts override keeps botocore's steps.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from wsgate.server.inprocess.hook import EVENT, USES, before_call
from wsgate.server.inprocess.shortcut import CLASS_EVENT, add_shortcuts, mismatched


__all__ = ["install_hook"]

_BOTOCORE_HANDLERS = "botocore.handlers"
_BUILTIN_HANDLERS = "BUILTIN_HANDLERS"

log = logging.getLogger("wsgate.inprocess")

_installed = False
_install_lock = threading.Lock()


def _missing(handlers: ModuleType) -> list[str]:
    """The botocore names the hook needs that this botocore lacks, as ``module.name``."""
    missing = []
    if not isinstance(getattr(handlers, _BUILTIN_HANDLERS, None), list):
        missing.append(f"{_BOTOCORE_HANDLERS}.{_BUILTIN_HANDLERS}")
    for name in USES:
        module_name, _, attribute = name.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except Exception:  # absent, or failing to import: either way not usable
            missing.append(name)
            continue
        if not hasattr(module, attribute):
            missing.append(name)
    return missing


def add_to_botocore(handlers: ModuleType) -> bool:
    """Register ``before_call`` for sessions made from now on, and boto3's default one.

    False, with one line logged and nothing registered, when botocore lacks a name the
    hook needs: calls then go over HTTP.
    """
    missing = _missing(handlers)
    if missing:
        version = getattr(sys.modules.get("botocore"), "__version__", "?")
        log.warning(
            "boto3 management calls to this process go over HTTP: botocore %s has no %s",
            version,
            ", ".join(missing),
        )
        return False
    ours: list[tuple[str, Any, str]] = [(EVENT, before_call, "wsgate.inprocess")]
    if _shortcuts_fit():
        ours.append((CLASS_EVENT, add_shortcuts, "wsgate.inprocess.shortcuts"))
    builtin: list[Any] = getattr(handlers, _BUILTIN_HANDLERS)
    # A session made before this point copied the builtin handlers without ours.
    boto3 = sys.modules.get("boto3")
    session = getattr(boto3, "DEFAULT_SESSION", None)
    for event, handler, unique_id in ours:
        if (event, handler) not in builtin:
            builtin.append((event, handler))
        if session is not None:
            session.events.register(event, handler, unique_id=unique_id)
    return True


def _shortcuts_fit() -> bool:
    """Whether this botocore's client has the methods ``LocalShortcuts`` overrides, with
    the parameters it expects; one line logged when not."""
    try:
        from botocore.client import BaseClient
    except Exception:  # absent, or failing to import: either way not usable
        wrong = ["botocore.client.BaseClient"]
    else:
        wrong = mismatched(BaseClient)
    if wrong:
        version = getattr(sys.modules.get("botocore"), "__version__", "?")
        log.warning(
            "boto3 management calls to this process resolve their endpoint as remote ones: "
            "botocore %s has no %s as expected",
            version,
            ", ".join(wrong),
        )
    return not wrong


class _ThenAdd(importlib.abc.Loader):
    """``botocore.handlers``' own loader, then ``add_to_botocore`` on the fresh module."""

    def __init__(self, loader: importlib.abc.Loader, finder: _BotocoreWatch) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._finder.retire()
        add_to_botocore(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... as the original
        return getattr(self._loader, name)


class _BotocoreWatch(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader others find for ``botocore.handlers``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _BOTOCORE_HANDLERS:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ThenAdd(spec.loader, self)
                return spec
        return None

    def retire(self) -> None:
        """Leave ``sys.meta_path``: its one module is imported."""
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def install_hook() -> None:
    """Make every botocore session created from now on serve local calls in process.

    Idempotent. Call it before handler modules are imported, so that clients they
    create at import time have the hook too.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        handlers = sys.modules.get(_BOTOCORE_HANDLERS)
        if handlers is not None:
            add_to_botocore(handlers)
        else:
            sys.meta_path.insert(0, _BotocoreWatch())

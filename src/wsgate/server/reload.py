"""Hot reload: changes to the config files or to a function's code, applied while serving.

``watchfiles`` watches the folders of the config file and of every file loading it read or
looked for (``${file(...)}``, samconfig), each function's code folder and, when routes
have in-process handlers, ``handlers.path``. Changes come in batches (a burst of saves is
one batch) and are sorted:

- a config file: the config is loaded again in full and made ready (``server.swap``). If
  that fails, one line names the error and the gateway goes on with the config it has;
  else it is applied, one line says what changed and one names what needs a restart.
- a function's code: the function's workers are retired (``FunctionPool.retire``): the
  next invocation starts a worker with the code as it is now.
- an in-process handler's module: reloaded (``importlib.reload``) with the modules the
  routes name, then the routes are rebuilt; if that fails they keep the handlers they had.

Connections stay open throughout; a message already begun is answered as it began.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from wsgate.config.model import GatewayConfig, RequestAuthorizerConfig
from wsgate.exceptions import ConfigError
from wsgate.server.gateway import Gateway
from wsgate.server.swap import Swap


if TYPE_CHECKING:
    from wsgate.auth.base import Authorizer
    from wsgate.project import Notice


__all__ = ["Loaded", "ModuleFiles", "Reloader", "reload_wanted"]

log = logging.getLogger("wsgate.reload")

DEBOUNCE_MS = 1600
"""The longest a batch of changes is held while more keep coming."""
STEP_MS = 150
"""A batch ends once nothing changed for this long: an editor's save (a temporary file,
then a rename) is one batch."""
WATCH_TIMEOUT_MS = 1000
"""How often the watching thread returns with nothing: the first return says the
watches are in place."""
STOP_WAIT = 5.0
"""Seconds ``stop`` waits for a reload under way before cancelling it."""
AUTHORIZER_GRACE = 30.0
"""Seconds a replaced authorizer is kept open for handshakes that began with it (AWS's
29 s integration limit bounds them)."""

IGNORED_DIRS = (".aws-sam", ".serverless")
"""Build output of SAM and the Serverless Framework, besides watchfiles' own list
(``__pycache__``, ``node_modules``, ``.git``, virtual environments)."""


def reload_wanted(flag: bool | None, *, project: bool, workers: int) -> bool:
    """Whether ``wsgate serve`` reloads: as ``--reload``/``--no-reload`` say, else when
    it serves a serverless.yml or a template (``project``: or a wsgate.yaml importing
    one) in one process, as ``sam local`` and
    serverless-offline do for the project being written; a wsgate.yaml, or
    ``--workers``, is a gateway in production, where a file changing under it is
    applied by a restart (or a rolling one), not on its own."""
    if flag is not None:
        return flag
    return project and workers == 1


@dataclass(frozen=True)
class Loaded:
    """A config as ``wsgate serve`` loaded it, with the files it came from."""

    path: Path
    """The config file, as given."""
    config: GatewayConfig
    notices: tuple[Notice, ...]
    files: frozenset[Path]
    """Every file the load read or looked for, resolved: a change to one reloads."""
    project: bool = False
    """Whether the config is a project file, or a wsgate.yaml importing one."""


class Reloader:
    """Watches and reloads for one gateway; see the module's docstring."""

    def __init__(self, gateway: Gateway, load: Callable[[], Loaded], loaded: Loaded) -> None:
        """``load`` loads the config again as at start (it runs in a thread); ``loaded``
        is what the gateway serves now."""
        self._gateway = gateway
        self._load = load
        self._loaded = loaded
        self._stamps = _stamps(loaded.files)
        self._module_files = ModuleFiles()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Begin watching; a line is logged once the watches are in place."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wsgate reload")

    async def stop(self) -> None:
        """Stop watching, and close the authorizers replaced meanwhile."""
        self._stop.set()
        if self._task is not None:
            _done, running = await asyncio.wait({self._task}, timeout=STOP_WAIT)
            for task in running:
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        for task in self._closing:
            task.cancel()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=STOP_WAIT)

    # --- watching ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            from watchfiles import DefaultFilter, awatch
        except ImportError:  # cli.py refuses --reload without it
            log.warning("hot reload is off: watchfiles is not installed (wsgate[project])")
            return
        noisy = logging.getLogger("watchfiles")
        if noisy.level == logging.NOTSET:  # its "1 change detected" says less than ours
            noisy.setLevel(logging.WARNING)
        changes_filter = DefaultFilter(ignore_dirs=(*DefaultFilter.ignore_dirs, *IGNORED_DIRS))
        first = True
        try:
            while not self._stop.is_set():
                roots = self._roots()
                watching = False
                async with aclosing(
                    awatch(
                        *roots,
                        watch_filter=changes_filter,
                        debounce=DEBOUNCE_MS,
                        step=STEP_MS,
                        stop_event=self._stop,
                        rust_timeout=WATCH_TIMEOUT_MS,
                        yield_on_timeout=True,
                    )
                ) as batches:
                    async for batch in batches:
                        if not watching:
                            watching = True
                            self._watching(roots, first)
                            first = False
                            if _stamps(self._loaded.files) != self._stamps:
                                await self._reload_config(())  # changed while not watched
                        if batch:  # else a yield on the timeout: nothing changed
                            await self._changed({Path(path) for _change, path in batch})
                            if self._roots() != roots:
                                break  # a reload moved a code folder or added a file
        except Exception as exc:  # never the gateway's end: it serves on as it is
            # Such as the system's limit of watches reached (fs.inotify.max_user_watches).
            log.error("hot reload stopped: %s: %s", type(exc).__name__, exc)
            log.debug("hot reload stopped", exc_info=exc)

    def _roots(self) -> tuple[Path, ...]:
        """The folders to watch: none inside another."""
        folders = {path.parent for path in self._loaded.files}
        functions = self._gateway.functions
        if functions is not None:
            folders |= {pool.spec.code for pool in functions.pools.values()}
        handlers = _handlers_path(self._gateway.config)
        if handlers is not None:
            folders.add(handlers)
        roots: list[Path] = []
        for folder in sorted(f for f in folders if f.is_dir()):
            if not any(folder.is_relative_to(root) for root in roots):
                roots.append(folder)
        return tuple(roots)

    def _watching(self, roots: Sequence[Path], first: bool) -> None:
        watched = [str(self._loaded.path)]
        functions = self._gateway.functions
        if functions is not None and functions.pools:
            watched.append(f"the code of {len(functions.pools)} function(s)")
        if _handlers_path(self._gateway.config) is not None:
            watched.append("the in-process handlers' modules")
        log.log(
            logging.INFO if first else logging.DEBUG,
            "hot reload: watching %s (in %s)",
            " and ".join(watched),
            ", ".join(str(root) for root in roots),
        )

    async def _changed(self, paths: set[Path]) -> None:
        """Sort a batch of changes and act on each kind."""
        files = self._loaded.files
        config_files = sorted(path for path in paths if path in files)
        others = sorted(path for path in paths if path not in files)
        if config_files:
            await self._reload_config(config_files)
        if others:
            self._code_changed(others)
            await self._handlers_changed(others)

    # --- what changed ------------------------------------------------------------------

    async def _reload_config(self, changed: Sequence[Path]) -> None:
        """Load the config again; apply it, or say why not and keep the one serving."""
        path = self._loaded.path
        before = _stamps(self._loaded.files)
        try:
            loaded = await asyncio.to_thread(self._load)
            swap = Swap(self._gateway, loaded.config)
        except ConfigError as exc:
            self._stamps = before
            log.error("reload: %s; still serving the config loaded before", _located(exc, path))
            return
        except Exception as exc:  # a bug must not stop the gateway: named, not raised
            self._stamps = before
            log.error(
                "reload: %s: %s: %s; still serving the config loaded before",
                path,
                type(exc).__name__,
                exc,
            )
            return
        applied = swap.apply()
        known = {str(notice) for notice in self._loaded.notices}
        self._loaded = loaded
        self._stamps = _stamps(loaded.files)
        for notice in loaded.notices:
            if str(notice) not in known:
                level = logging.WARNING if notice.level == "warning" else logging.INFO
                log.log(level, "%s: %s", path, notice)
        if swap.restart:
            log.warning("reload: restart to apply: %s (kept as they were)", ", ".join(swap.restart))
        what = "; ".join(applied.changes) or "nothing that serves changed"
        retired = f"; {_workers(applied.retired)} retired" if applied.retired else ""
        log.info("reload: %s changed: %s%s", _names(changed) or path, what, retired)
        if applied.former_authorizer is not None:
            self._close_later(applied.former_authorizer)

    def _code_changed(self, paths: Sequence[Path]) -> None:
        """Retire the workers of every function whose code folder holds a changed file."""
        functions = self._gateway.functions
        if functions is None:
            return
        names, retired = [], 0
        for name, pool in functions.pools.items():
            if any(path.is_relative_to(pool.spec.code) for path in paths):
                names.append(name)
                retired += pool.retire()
        if names:
            log.info(
                "reload: %s changed: code of %s; %s retired",
                _names(paths),
                ", ".join(names),
                _workers(retired),
            )

    async def _handlers_changed(self, paths: Sequence[Path]) -> None:
        """Reload the in-process handler modules a change touched, and rebuild the routes."""
        config = self._gateway.config
        if _handlers_path(config) is None:
            return
        modules = self._module_files.of(set(paths))
        if not modules:
            return
        for name in _handler_modules(config):
            module = sys.modules.get(name)
            if module is not None and module not in modules:
                modules.append(module)  # after what they import: their names bind anew
        try:
            await asyncio.to_thread(_reload_modules, modules)
            swap = Swap(self._gateway, config)
        except Exception as exc:  # a syntax error, an import that fails: the old ones stay
            log.error(
                "reload: %s: %s: %s; the routes keep the handlers they had",
                _names(paths),
                type(exc).__name__,
                exc,
            )
            return
        swap.apply()
        log.info(
            "reload: %s changed: in-process handler modules %s reloaded",
            _names(paths),
            ", ".join(module.__name__ for module in modules),
        )

    def _close_later(self, authorizer: Authorizer) -> None:
        task = asyncio.get_running_loop().create_task(_close_after(authorizer, AUTHORIZER_GRACE))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close_after(authorizer: Authorizer, delay: float) -> None:
    """Close ``authorizer`` after ``delay`` seconds, or at once when cancelled."""
    try:
        await asyncio.sleep(delay)
    finally:
        await authorizer.aclose()


def _stamps(files: Iterable[Path]) -> dict[Path, tuple[int, int] | None]:
    """Each file's modification time and size; None for one that is not there."""
    stamps: dict[Path, tuple[int, int] | None] = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            stamps[path] = None
        else:
            stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


def _handlers_path(config: GatewayConfig) -> Path | None:
    """``handlers.path`` when a route or the authorizer runs in this process."""
    return config.handlers.path.resolve() if _handler_modules(config) else None


def _handler_modules(config: GatewayConfig) -> list[str]:
    """The modules the in-process handlers of ``config`` live in."""
    references = [route.handler for route in config.routes.values()]
    if isinstance(config.authorizer, RequestAuthorizerConfig):
        references.append(config.authorizer.handler)
    names = [ref.partition(":")[0] for ref in references if ref is not None]
    return list(dict.fromkeys(names))


class ModuleFiles:
    """The file of each module in ``sys.modules``, resolved once per module: resolving
    costs a system call per part of the path, and thousands of modules are loaded."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[ModuleType, Path | None]] = {}

    def of(self, files: set[Path]) -> list[ModuleType]:
        """The loaded modules whose file is one of ``files`` (resolved paths)."""
        known, self._files = self._files, {}
        found = []
        for name, module in list(sys.modules.items()):
            entry = known.get(name)
            if entry is None or entry[0] is not module:  # new, or imported again
                entry = (module, _module_file(module))
            self._files[name] = entry
            if entry[1] in files:
                found.append(module)
        return found


def _module_file(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if isinstance(file, str) else None


def _reload_modules(modules: Sequence[ModuleType]) -> None:
    importlib.invalidate_caches()
    for module in modules:
        importlib.reload(module)


def _located(error: ConfigError, path: Path) -> str:
    """The error, naming the config file if it does not already."""
    text = str(error)
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _names(paths: Sequence[Path], most: int = 3) -> str:
    """``a.py, b.py and 2 more``."""
    names = [path.name for path in paths[:most]]
    more = f" and {len(paths) - most} more" if len(paths) > most else ""
    return ", ".join(names) + more


def _workers(count: int) -> str:
    return f"{count} worker" + ("" if count == 1 else "s")

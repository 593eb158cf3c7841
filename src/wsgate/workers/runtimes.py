"""Which program a worker runs, per Lambda ``runtime`` value: one table.

Every official Lambda runtime is a client of the Runtime API; wsgate starts that client
with the function's handler and lets it do the rest (import the code, call the handler,
marshal the result). For Python that is ``awslambdaric``, run by the gateway's own
interpreter: ``runtime: python3.12`` chooses the worker kind and the runtime's
``AWS_EXECUTION_ENV``, not the interpreter's version. Node.js (``aws-lambda-ric``) is a
row to add here: its command, its execution environment and how to tell it is installed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wsgate.exceptions import ConfigError


__all__ = ["RUNTIMES", "RuntimeKind", "runtime_kind"]


@dataclass(frozen=True, slots=True)
class RuntimeKind:
    """How the workers of one ``runtime`` value are started."""

    name: str
    """Lambda's runtime identifier, ``python3.12``."""
    execution_env: str
    """``AWS_EXECUTION_ENV``: ``AWS_Lambda_python3.12``. The runtime clients read it
    (awslambdaric polls in a thread and encodes JSON as the newer runtimes do)."""
    command: Callable[[str], list[str]]
    """The worker's argv for a handler string."""
    import_path: Callable[[Path], Mapping[str, str]]
    """The variables that make the code folder importable (``PYTHONPATH``)."""
    installed: Callable[[], str | None]
    """None when the runtime client can be started, else how to install it."""


def _python_command(handler: str) -> list[str]:
    # awslambdaric reads the handler from argv[1] only; _HANDLER is set for the others.
    return [sys.executable, "-m", "awslambdaric", handler]


def _python_path(code: Path) -> Mapping[str, str]:
    return {"PYTHONPATH": str(code)}


def _awslambdaric_missing() -> str | None:
    if not sys.executable:
        return "the gateway's Python interpreter cannot be found (sys.executable is empty)"
    if importlib.util.find_spec("awslambdaric") is None:
        return "awslambdaric is not installed: pip install 'wsgate[workers]'"
    return None


def _python(version: str) -> RuntimeKind:
    return RuntimeKind(
        name=f"python{version}",
        execution_env=f"AWS_Lambda_python{version}",
        command=_python_command,
        import_path=_python_path,
        installed=_awslambdaric_missing,
    )


RUNTIMES: dict[str, RuntimeKind] = {
    kind.name: kind for kind in (_python("3.11"), _python("3.12"), _python("3.13"))
}
"""Every supported ``runtime`` value; the config model accepts exactly these."""


def runtime_kind(runtime: str, *, where: str) -> RuntimeKind:
    """The worker kind of ``runtime``, checked to be installed.

    Args:
        runtime: Lambda's runtime identifier.
        where: the config key to name in errors (``functions.chat.runtime``).

    Raises:
        ConfigError: the runtime is unknown, or its client is not installed.
    """
    kind = RUNTIMES.get(runtime)
    if kind is None:
        known = ", ".join(RUNTIMES)
        raise ConfigError(f"{where}: unknown runtime {runtime!r} (supported: {known})")
    missing = kind.installed()
    if missing is not None:
        raise ConfigError(f"{where}: {runtime} workers cannot start: {missing}")
    return kind

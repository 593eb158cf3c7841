"""Which program a worker runs, per Lambda ``runtime`` value: one table.

Every official Lambda runtime is a client of the Runtime API; wsgate starts that client
with the function's handler and lets it do the rest (import the code, call the handler,
marshal the result). For Python that is ``awslambdaric``, run by the gateway's own
interpreter: ``runtime: python3.12`` chooses the worker kind and the runtime's
``AWS_EXECUTION_ENV``, not the interpreter's version. Node.js is AWS's ``aws-lambda-ric``
(3.x, the last line that runs on Node 20), installed from ``runtimes/node/package-lock.json``
with the AWS SDK v3 client a Lambda Node runtime ships, and run by the ``node`` on the
gateway's ``PATH``: ``runtime: nodejs22.x`` likewise chooses ``AWS_EXECUTION_ENV`` only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wsgate.exceptions import ConfigError


__all__ = ["NODE_RUNTIME_ENV", "RUNTIMES", "RuntimeKind", "node_runtime_dir", "runtime_kind"]


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


_PYTHON_PRELOAD = Path(__file__).resolve().parent / "preload" / "awslambdaric_main.py"
"""Runs ``awslambdaric`` as ``-m`` would, after pointing the gateway's AWS-style name at
the gateway (``workers.endpoints``)."""


def _python_command(handler: str) -> list[str]:
    # awslambdaric reads the handler from argv[1] only; _HANDLER is set for the others.
    return [sys.executable, str(_PYTHON_PRELOAD), handler]


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


NODE_RUNTIME_ENV = "WSGATE_NODE_RUNTIME"
"""The gateway's variable naming the folder the Node runtime was installed into (the one
holding ``node_modules/aws-lambda-ric``), for an installation outside a checkout."""

_NODE_RIC = Path("node_modules", "aws-lambda-ric")
_NODE_RIC_BIN = _NODE_RIC / "bin" / "index.mjs"
_NODE_RIC_ADDON = _NODE_RIC / "dist" / "rapid-client.node"
"""The client's native part, built by its install script: without it the client cannot
start."""
_NODE_PATH_HOOK = "node-path.mjs"
_NODE_EXECUTE_API = "execute-api.cjs"
"""Points the gateway's AWS-style name at the gateway (``workers.endpoints``)."""


def node_runtime_dir() -> Path:
    """Where the Node runtime is installed: ``$WSGATE_NODE_RUNTIME``, else the checkout's
    ``runtimes/node`` (``make node``: ``npm ci --prefix runtimes/node``)."""
    configured = os.environ.get(NODE_RUNTIME_ENV)
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parents[3] / "runtimes" / "node"


def _node_command(handler: str) -> list[str]:
    # aws-lambda-ric 3.x reads the handler from argv[2] and the code from its working
    # directory (the code folder); the preloaded hook resolves ES imports via NODE_PATH.
    runtime = node_runtime_dir()
    return [
        shutil.which("node") or "node",
        f"--require={runtime / _NODE_EXECUTE_API}",
        f"--import={(runtime / _NODE_PATH_HOOK).as_uri()}",
        str(runtime / _NODE_RIC_BIN),
        handler,
    ]


def _node_path(code: Path) -> Mapping[str, str]:
    # As Lambda's /var/runtime/node_modules: the runtime's SDK, for require() and import.
    return {"NODE_PATH": f"{node_runtime_dir() / 'node_modules'}:{code}"}


def _aws_lambda_ric_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not on the gateway's PATH: install Node.js 20 or later"
    runtime = node_runtime_dir()
    missing = [
        path
        for path in (_NODE_PATH_HOOK, _NODE_EXECUTE_API, _NODE_RIC_BIN, _NODE_RIC_ADDON)
        if not (runtime / path).is_file()
    ]
    if missing:
        return (
            f"aws-lambda-ric is not installed in {runtime} (no {missing[0]}): run `make node`"
            f" (npm ci --prefix {runtime}), which needs a C++ toolchain, cmake, autoconf,"
            " automake and libtool"
        )
    return None


def _nodejs(version: str) -> RuntimeKind:
    return RuntimeKind(
        name=f"nodejs{version}",
        execution_env=f"AWS_Lambda_nodejs{version}",
        command=_node_command,
        import_path=_node_path,
        installed=_aws_lambda_ric_missing,
    )


RUNTIMES: dict[str, RuntimeKind] = {
    kind.name: kind
    for kind in (
        _python("3.11"),
        _python("3.12"),
        _python("3.13"),
        _nodejs("18.x"),
        _nodejs("20.x"),
        _nodejs("22.x"),
    )
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

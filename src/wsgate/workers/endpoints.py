"""The gateway's AWS-style name, and where workers find it.

A framework builds its management endpoint as ``https://{apiId}.execute-api.{region}
.amazonaws.com/{stage}``. That name resolves to AWS, not to this machine, so every worker
is told where the gateways of this process really listen: :data:`VARIABLE` holds
``host=address:port`` pairs (comma-separated, an IPv6 address in brackets), and the
worker's preload (``preload/awslambdaric_main.py`` for Python,
``runtimes/node/execute-api.cjs`` for Node.js) sends a connection to such a host, port
443, to that address instead. Nothing else a function calls is touched.

The table is the process's, like the environment a worker inherits: each gateway adds
its name when it listens and takes it away when it stops. The gateway's own process
resolves the names in it too (``redirect_here``), for in-process handlers whose calls go
over HTTP.
"""

from __future__ import annotations

import threading

from wsgate.workers.preload.awslambdaric_main import VARIABLE, redirect


__all__ = [
    "VARIABLE",
    "execute_api_host",
    "format_table",
    "publish",
    "published",
    "redirect_here",
    "withdraw",
]

_names: dict[str, tuple[str, int]] = {}
"""host → (address, port). Changed under the lock; ``getaddrinfo`` reads it without."""
_lock = threading.Lock()
_redirecting = False


def execute_api_host(api_id: str, region: str) -> str:
    """The host of API Gateway's default endpoint for an API: ``{id}.execute-api.{region}
    .amazonaws.com``."""
    return f"{api_id}.execute-api.{region}.amazonaws.com".lower()


def publish(host: str, address: str, port: int) -> None:
    """Send workers' connections to ``host``:443 to ``address``:``port`` from now on."""
    with _lock:
        _names[host.lower()] = (address, port)


def withdraw(host: str, address: str, port: int) -> None:
    """Stop redirecting ``host`` for workers started from now on, unless another gateway
    of this process has published it since."""
    with _lock:
        if _names.get(host.lower()) == (address, port):
            del _names[host.lower()]


def published() -> str:
    """The value of :data:`VARIABLE` for a worker started now; empty when nothing is."""
    with _lock:
        return format_table(_names)


def format_table(names: dict[str, tuple[str, int]]) -> str:
    """``host=address:port`` pairs, comma-separated, in a stable order."""
    pairs = []
    for host, (address, port) in sorted(names.items()):
        shown = f"[{address}]" if ":" in address else address
        pairs.append(f"{host}={shown}:{port}")
    return ",".join(pairs)


def redirect_here() -> None:
    """Resolve the published names in this process too, as a worker's preload does (once;
    the table is read at each lookup, so later changes count)."""
    global _redirecting
    with _lock:
        if not _redirecting:
            _redirecting = True
            redirect(_names)

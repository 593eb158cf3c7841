"""A Python worker's entry: send the gateway's AWS-style name to the gateway, then run
``awslambdaric`` exactly as ``python -m awslambdaric <handler>`` would.

Run by path (``python .../awslambdaric_main.py <handler>``), so that nothing of wsgate is
imported into the worker. ``WSGATE_EXECUTE_API`` (``workers.endpoints``) names each
``{apiId}.execute-api.{region}.amazonaws.com`` of the gateway and where it listens; a
lookup of such a host for port 443 is answered with that address and port, so boto3 (or
any client) connects there, still sends that host in SNI and ``Host`` and verifies the
certificate for it (the gateway's own, trusted through ``AWS_CA_BUNDLE``). Any other
host, or another port, is resolved as before.
"""

from __future__ import annotations

import os
import runpy
import socket
import sys
from typing import Any


__all__ = ["VARIABLE", "main", "parse_table", "redirect"]

VARIABLE = "WSGATE_EXECUTE_API"
_HTTPS_PORTS = (443, "443", "https", b"443", b"https")


def parse_table(value: str) -> dict[str, tuple[str, int]]:
    """``host=address:port`` pairs, comma-separated (IPv6 in brackets); a malformed pair
    is left out."""
    names: dict[str, tuple[str, int]] = {}
    for pair in value.split(","):
        host, _, target = pair.strip().partition("=")
        address, _, port = target.rpartition(":")
        address = address.removeprefix("[").removesuffix("]")
        if host and address and port.isdigit():
            names[host.lower()] = (address, int(port))
    return names


def redirect(names: dict[str, tuple[str, int]]) -> None:
    """Answer ``socket.getaddrinfo`` for ``names`` on port 443 with their addresses."""
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        target = names.get(name.lower().rstrip(".")) if isinstance(name, str) else None
        if target is not None and port in _HTTPS_PORTS:
            return original(target[0], target[1], *args, **kwargs)
        return original(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def main() -> None:
    # As `python -m` would have it: the working directory (the code folder) first on the
    # path, not this file's folder.
    sys.path[0] = os.getcwd()
    names = parse_table(os.environ.get(VARIABLE, ""))
    if names:
        redirect(names)
    runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

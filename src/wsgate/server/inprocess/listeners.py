"""Where the gateways of this process listen: the table a boto3 call's URL is looked up in.

Written on a gateway's loop when it starts and stops listening, read from any thread by
every management call a handler makes: the table is replaced, never mutated, so readers
need no lock.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import SplitResult, urlsplit

from wsgate.server.management import ManagedGateway


if TYPE_CHECKING:
    from wsgate.config.model import GatewayConfig


__all__ = [
    "Local",
    "LocalGateway",
    "add_host",
    "add_listener",
    "find",
    "listener_hosts",
    "remove_gateway",
    "serving",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_OF_WILDCARD = {4: "127.0.0.1", 6: "::1"}
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})


class LocalGateway(ManagedGateway, Protocol):
    """A gateway as the table sees it: what management calls need, and its settings."""

    @property
    def config(self) -> GatewayConfig:
        """Its configuration: ``server.host`` and ``server.domain_name`` name it too."""
        ...


@dataclass(frozen=True, slots=True)
class Local:
    """A gateway reachable at some URLs, and the loop that runs it."""

    gateway: LocalGateway
    loop: asyncio.AbstractEventLoop


_listeners: dict[tuple[str, str, int], Local] = {}
"""(scheme, host, port) → gateway. Replaced, never mutated, so threads read it unlocked."""
_table_lock = threading.Lock()


def listener_hosts(
    addresses: Iterable[str], bind_host: str, domain_name: str | None
) -> frozenset[str]:
    """The URL hosts (lower case, IPv6 without brackets) that reach a listener.

    Args:
        addresses: the addresses its sockets are bound to, as ``getsockname`` gives them.
        bind_host: ``server.host``; a name (not a wildcard) counts as well.
        domain_name: ``server.domain_name`` as configured (``host`` or ``host:port``).

    A loopback or wildcard socket is reached by ``localhost`` and the loopback address of
    its family; any other address only by itself.
    """
    hosts: set[str] = set()
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_unspecified:
            hosts.update(("localhost", _LOOPBACK_OF_WILDCARD[ip.version]))
        elif ip.is_loopback:
            hosts.update(("localhost", ip.compressed))
        else:
            hosts.add(ip.compressed)
    if bind_host.lower() not in _WILDCARD_HOSTS:
        hosts.add(bind_host.lower().strip("[]"))
    if domain_name:
        domain_host = urlsplit(f"//{domain_name}").hostname
        if domain_host:
            hosts.add(domain_host)
    return frozenset(hosts)


def add_listener(gateway: LocalGateway, scheme: str, port: int, addresses: Sequence[str]) -> None:
    """Serve boto3 calls to ``scheme://{host}:{port}`` in process; call on the gateway's loop.

    The hosts are those of ``listener_hosts`` for the gateway's ``server`` settings.
    """
    server = gateway.config.server
    local = Local(gateway, asyncio.get_running_loop())
    keys = {
        (scheme, host, port): local
        for host in listener_hosts(addresses, server.host, server.domain_name)
    }
    global _listeners
    with _table_lock:
        _listeners = {**_listeners, **keys}


def add_host(gateway: LocalGateway, scheme: str, host: str, port: int) -> None:
    """Serve boto3 calls to ``scheme://{host}:{port}`` in process too, whatever its
    address (the AWS-style ``{apiId}.execute-api.{region}.amazonaws.com``, port 443);
    call on the gateway's loop."""
    local = Local(gateway, asyncio.get_running_loop())
    global _listeners
    with _table_lock:
        _listeners = {**_listeners, (scheme, host.lower(), port): local}


def remove_gateway(gateway: LocalGateway) -> None:
    """Stop serving ``gateway``'s URLs in process; later calls go over HTTP."""
    global _listeners
    with _table_lock:
        _listeners = {key: v for key, v in _listeners.items() if v.gateway is not gateway}


def serving() -> bool:
    """Whether any gateway of this process is listed: when not, every call goes over HTTP."""
    return bool(_listeners)


@functools.lru_cache(maxsize=256)
def _key(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """The table's key for a URL's scheme and netloc; None when it names no host or port.

    Cached: every call of a client repeats its netloc, and reading the host and port out
    of it is two passes in Python.
    """
    parts = SplitResult(scheme, netloc, "", "", "")
    host = parts.hostname
    if host is None:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:  # not a port number: let botocore fail as it would
        return None
    return scheme, host, port


def find(url: str) -> tuple[Local, str] | None:
    """The local gateway ``url`` names and the path to ask it for, or None."""
    parts = urlsplit(url)
    key = _key(parts.scheme, parts.netloc)
    local = _listeners.get(key) if key is not None else None
    if local is None:
        return None
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return local, path

"""Registries: where connections live. ``create_registry`` is the one place that knows the
backend names."""

from __future__ import annotations

from wsgate.exceptions import ConfigError
from wsgate.registry.base import ConnectionInfo, LocalConnection, Registry
from wsgate.registry.memory import MemoryRegistry


__all__ = ["ConnectionInfo", "LocalConnection", "MemoryRegistry", "Registry", "create_registry"]


def create_registry(
    backend: str,
    *,
    url: str = "redis://127.0.0.1:6379/0",
    cluster: bool = False,
    prefix: str = "wsgate:",
    entry_ttl: float = 7200.0 + 60.0,
    lease: float = 6.0,
    reply_timeout: float = 3.0,
    link_listen: tuple[str, int] | None = ("127.0.0.1", 0),
    link_advertise: tuple[str, int] | None = None,
) -> Registry:
    """Build the registry named in the config's ``registry.backend``.

    ``url``, ``cluster`` (``url`` is a node of a Redis Cluster), ``prefix`` (the start of
    every key and channel), ``entry_ttl`` (how long a directory entry may outlive a node
    that died), ``lease`` and ``reply_timeout`` are the redis backend's (see
    ``RedisRegistry``), and so are ``link_listen`` and ``link_advertise``, the node
    link's addresses.
    """
    if backend == "memory":
        return MemoryRegistry()
    if backend == "redis":
        # Imported here: a gateway on the memory backend never loads redis-py.
        try:
            from wsgate.registry.redis import RedisRegistry
        except ImportError as exc:
            raise ConfigError(
                f"registry.backend: redis needs redis-py ({exc}); install wsgate[redis]"
            ) from None
        return RedisRegistry(
            url,
            cluster=cluster,
            prefix=prefix,
            entry_ttl=entry_ttl,
            lease=lease,
            reply_timeout=reply_timeout,
            link_listen=link_listen,
            link_advertise=link_advertise,
        )
    raise ConfigError(f"registry.backend: {backend!r} is not available in this version")

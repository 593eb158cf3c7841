"""The observer a gateway's config asks for, made once at start (by ``server.runner``)."""

from __future__ import annotations

from collections.abc import Mapping

from wsgate.server.gateway import Gateway
from wsgate.server.observe.access_log import AccessLog
from wsgate.server.observe.observer import Observer


__all__ = ["build_observer"]


def build_observer(gateway: Gateway) -> Observer | None:
    """The observer ``gateway``'s config asks for; None when it asks for none."""
    settings = gateway.config.admin
    metrics = None
    if settings.listen is not None:
        from wsgate.server.observe.metrics import Metrics

        registry = gateway.registry
        metrics = Metrics(
            gateway.api.stage,
            gateway.routes,
            {"messages": gateway.runners.threads, "handshake": gateway.runners.handshake_threads},
            lambda: len(registry.local_connections()),
            _remote_calls(gateway),
        )
    access = AccessLog(settings.access_log) if settings.access_log else None
    if metrics is None and access is None:
        return None
    return Observer(gateway.api, metrics, access)


def _remote_calls(gateway: Gateway) -> Mapping[str, int] | None:
    """The Redis registry's count of operations on other processes' connections."""
    if gateway.config.registry.backend != "redis":
        return None  # and redis-py is not imported
    from wsgate.registry.redis import RedisRegistry

    registry = gateway.registry
    return registry.remote_calls if isinstance(registry, RedisRegistry) else None

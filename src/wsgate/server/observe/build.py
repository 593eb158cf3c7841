"""The observer a gateway's config asks for, made once at start (by ``server.runner``)."""

from __future__ import annotations

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
            {"messages": gateway.threads, "handshake": gateway.handshake_threads},
            lambda: len(registry.local_connections()),
        )
    access = AccessLog(settings.access_log) if settings.access_log else None
    if metrics is None and access is None:
        return None
    return Observer(gateway.api, metrics, access)

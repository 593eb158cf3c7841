"""What an operator scrapes and reads: Prometheus metrics and access logs.

``build_observer`` makes, once at start, the ``Observer`` the server's hooks call: None
when neither ``admin.listen`` (metrics) nor ``admin.access_log`` is on. prometheus-client
is imported only with an admin listener.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsgate.server.observe.access_log import AccessLog
from wsgate.server.observe.observer import Observer


if TYPE_CHECKING:
    from wsgate.server.gateway import Gateway


__all__ = ["Observer", "build_observer", "observer_of"]


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


def observer_of(gateway: object) -> Observer | None:
    """The observer of a gateway given as ``server.management``'s narrow protocol: None
    when nothing is observed, or for a stand-in without a dispatcher."""
    observer = getattr(getattr(gateway, "dispatcher", None), "observer", None)
    return observer if isinstance(observer, Observer) else None

"""What an operator scrapes and reads: Prometheus metrics and access logs.

``observe.build.build_observer`` makes, once at start, the ``Observer`` the server's hooks
call: None when neither ``admin.listen`` (metrics) nor ``admin.access_log`` is on.
prometheus-client is imported only with an admin listener.
"""

from __future__ import annotations

from wsgate.server.observe.observer import Observer


__all__ = ["Observer", "observer_of"]


def observer_of(gateway: object) -> Observer | None:
    """The observer of a gateway given as ``server.management``'s narrow protocol: None
    when nothing is observed, or for a stand-in without a dispatcher."""
    observer = getattr(getattr(gateway, "dispatcher", None), "observer", None)
    return observer if isinstance(observer, Observer) else None

"""A stage's throttle settings as wsgate's: ``DefaultRouteSettings`` becomes
``api.throttle`` and ``RouteSettings.<routeKey>`` becomes ``routes.<routeKey>.throttle``,
each ``{rate: ThrottlingRateLimit, burst: ThrottlingBurstLimit}``; a value left out is the
stage's, then AWS's account limit, as on AWS."""

from __future__ import annotations

from typing import Any

from wsgate.project.assemble import TreeBuilder
from wsgate.project.cfn_resources import Keys
from wsgate.project.intrinsics import Resolver


__all__ = ["map_stage_throttle"]

_FIELDS = {"ThrottlingRateLimit": "rate", "ThrottlingBurstLimit": "burst"}
_LOGGING = {"DataTraceEnabled", "DetailedMetricsEnabled", "LoggingLevel"}


def map_stage_throttle(
    stage: str, props: dict[str, Any], builder: TreeBuilder, resolver: Resolver, keys: Keys
) -> None:
    """Set the throttles of the stage resource ``stage``; the routes must be set already."""
    if "DefaultRouteSettings" in props:
        key = keys.prop(stage, "DefaultRouteSettings")
        settings = _settings(props["DefaultRouteSettings"], key, builder, resolver)
        _set(("api", "throttle"), settings, key, builder)
    if "RouteSettings" not in props:
        return
    key = keys.prop(stage, "RouteSettings")
    per_route = resolver.resolve(props["RouteSettings"], key)
    if not isinstance(per_route, dict):
        raise builder.error(key, f"expected a mapping of route keys to settings, got {per_route!r}")
    routes = builder.tree.get("routes", {})
    for route_key, value in per_route.items():
        rkey = f"{key}.{route_key}"
        settings = _settings(value, rkey, builder, resolver)
        if route_key not in routes:
            served = ", ".join(routes) or "none"
            builder.note(rkey, f"no route {route_key} is served (routes: {served})", "unused")
        elif route_key == "$disconnect" and settings:
            builder.note(
                rkey,
                "$disconnect is not throttled by wsgate (a dropped $disconnect would leave the "
                "connection's records behind)",
                "left out",
            )
        else:
            _set(("routes", str(route_key), "throttle"), settings, rkey, builder)


def _settings(
    value: object, key: str, builder: TreeBuilder, resolver: Resolver
) -> dict[str, tuple[object, str]]:
    """The throttle fields of one RouteSettings value, each with its key path."""
    value = resolver.resolve(value, key)
    if not isinstance(value, dict):
        raise builder.error(key, f"expected a mapping of route settings, got {value!r}")
    found: dict[str, tuple[object, str]] = {}
    for name, setting in value.items():
        if name in _FIELDS:
            found[_FIELDS[name]] = (setting, f"{key}.{name}")
        elif name in _LOGGING:
            builder.note(
                f"{key}.{name}",
                f"{name} has no local meaning",
                "wsgate logs as configured",
                info=True,
            )
        else:
            builder.note(f"{key}.{name}", f"{name} is not honoured locally", "left out")
    return found


def _set(
    loc: tuple[str, ...], settings: dict[str, tuple[object, str]], key: str, builder: TreeBuilder
) -> None:
    if not settings:
        return
    builder.set(loc, {}, key)
    for name, (value, origin) in settings.items():
        builder.set((*loc, name), value, origin)

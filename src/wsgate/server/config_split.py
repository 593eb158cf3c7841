"""Which settings of a new config a running gateway can take, and which need a restart.

Routes, functions, the authorizer, the route selection expression, throttles and the
per-connection limits are read anew for each message or handshake: a reload replaces
them. The listeners (``server``), the stage and the API's identity, the registry, the
management API, the admin listener and the in-process handlers' settings are fixed once
the gateway listens; a reload keeps them as they were and names what it kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from wsgate.config.model import GatewayConfig


__all__ = ["LIVE_API_SETTINGS", "LIVE_SECTIONS", "live_config"]

LIVE_SECTIONS = frozenset(("routes", "functions", "authorizer"))
"""Top-level sections a reload applies whole."""

LIVE_API_SETTINGS = frozenset(
    (
        "route_selection_expression",
        "throttle",
        "idle_timeout",
        "max_message_bytes",
        "max_frame_bytes",
        "max_fragments",
        "max_connections",
    )
)
"""Settings of ``api`` a reload applies; the others (stage, name, api_id, region,
account_id, the registry entries' lifetime) stay."""


def live_config(running: GatewayConfig, new: GatewayConfig) -> tuple[GatewayConfig, list[str]]:
    """``new`` with what cannot change live kept from ``running``, and the key paths of
    the settings so kept that ``new`` changes (what a restart would apply)."""
    kept: dict[str, object] = {}
    restart: list[str] = []
    for name in GatewayConfig.model_fields:
        if name in LIVE_SECTIONS or name == "api":
            continue
        before, after = getattr(running, name), getattr(new, name)
        if before != after:
            kept[name] = before
            restart += _changed_paths(_dump(before), _dump(after), name)
    api_kept = {
        name: getattr(running.api, name)
        for name in type(running.api).model_fields
        if name not in LIVE_API_SETTINGS and getattr(running.api, name) != getattr(new.api, name)
    }
    restart += [f"api.{name}" for name in api_kept]
    if api_kept:
        kept["api"] = new.api.model_copy(update=api_kept)
    return new.model_copy(update=kept), restart


def _dump(value: object) -> object:
    """A setting as plain data; secrets stay objects that compare by their value."""
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def _changed_paths(before: object, after: object, path: str) -> list[str]:
    """The key paths, from ``path`` down to two levels, where ``before`` and ``after``
    differ."""
    if (
        isinstance(before, Mapping)
        and isinstance(after, Mapping)
        and path.count(".") < 1
        and before.keys() == after.keys()
    ):
        return [
            found
            for key in before
            for found in _changed_paths(before[key], after[key], f"{path}.{key}")
        ]
    return [path] if before != after else []

"""Registries: where connections live. ``create_registry`` is the one place that knows the
backend names."""

from __future__ import annotations

from wsgate.exceptions import ConfigError
from wsgate.registry.base import ConnectionInfo, LocalConnection, Registry
from wsgate.registry.memory import MemoryRegistry


__all__ = ["ConnectionInfo", "LocalConnection", "MemoryRegistry", "Registry", "create_registry"]


def create_registry(backend: str) -> Registry:
    """Build the registry named in the config's ``registry.backend``."""
    if backend == "memory":
        return MemoryRegistry()
    raise ConfigError(f"registry.backend: {backend!r} is not available in this version")

"""wsgate: the AWS API Gateway WebSocket model on a machine of your own."""

from __future__ import annotations

from wsgate.exceptions import (
    BufferFull,
    ConfigError,
    DuplicateConnection,
    Gone,
    HandlerFailed,
    IntegrationError,
    IntegrationTimeout,
    RegistryError,
    WsgateError,
)


__all__ = [
    "BufferFull",
    "ConfigError",
    "DuplicateConnection",
    "Gone",
    "HandlerFailed",
    "IntegrationError",
    "IntegrationTimeout",
    "RegistryError",
    "WsgateError",
    "__version__",
]

__version__ = "0.1.0"

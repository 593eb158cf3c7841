"""wsgate: the AWS API Gateway WebSocket model on a machine of your own."""

from __future__ import annotations

from wsgate.exceptions import (
    AuthorizerError,
    BufferFull,
    ConfigError,
    DuplicateConnection,
    Gone,
    HandlerFailed,
    IntegrationError,
    IntegrationTimeout,
    JwksUnavailable,
    RegistryError,
    TokenError,
    WsgateError,
)


__all__ = [
    "AuthorizerError",
    "BufferFull",
    "ConfigError",
    "DuplicateConnection",
    "Gone",
    "HandlerFailed",
    "IntegrationError",
    "IntegrationTimeout",
    "JwksUnavailable",
    "RegistryError",
    "TokenError",
    "WsgateError",
    "__version__",
]

__version__ = "0.1.0"

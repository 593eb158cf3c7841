"""wsgate: the AWS API Gateway WebSocket model on a machine of your own."""

from __future__ import annotations

from wsgate.compiled import use_sources as _use_sources


_use_sources()  # WSGATE_PURE_PYTHON=1: the hot path's sources, not its compiled modules

from wsgate.exceptions import (  # noqa: E402
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

"""wsgate's exceptions, one hierarchy.

::

    WsgateError
    ├── ConfigError            a config file, a key or a handler reference is wrong
    ├── IntegrationError       a handler could not produce a usable result
    │   ├── IntegrationTimeout     it ran past its route's timeout
    │   └── HandlerFailed          it raised (the original exception is the cause)
    ├── AuthorizerError        an authorizer could not reach a decision
    │   └── JwksUnavailable        the JWKS could not be fetched, read or parsed
    ├── TokenError             ``wsgate token`` was given an unusable key or option
    └── RegistryError
        ├── Gone                   no established connection has this id
        ├── BufferFull             the client is not reading; its outbound buffer is full
        └── DuplicateConnection    the id is taken (ids are random; this guards the impossible)

Foreign exceptions (aiohttp, botocore, redis, jwt) are translated at the boundary of the
module that calls them; clients only ever see the AWS payloads of ``core.errors``.
"""

from __future__ import annotations


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
]


class WsgateError(Exception):
    """Base class of every error wsgate raises on purpose."""


class ConfigError(WsgateError):
    """The configuration cannot be used; the message names the file, key path and problem."""


class IntegrationError(WsgateError):
    """A handler invocation failed; the message is for logs, never for clients."""


class IntegrationTimeout(IntegrationError):
    """The handler did not finish within its timeout."""


class HandlerFailed(IntegrationError):
    """The handler raised; ``__cause__`` holds what it raised."""

    def __init__(self, message: str, error: BaseException) -> None:
        super().__init__(message)
        self.error = error


class AuthorizerError(WsgateError):
    """An authorizer could not reach a decision; the handshake gets 500."""


class JwksUnavailable(AuthorizerError):
    """The JWKS could not be fetched, read or parsed; the message says why."""


class TokenError(WsgateError):
    """``wsgate token`` cannot use a key file or an option; the message says which."""


class RegistryError(WsgateError):
    """A registry operation could not be carried out."""


class Gone(RegistryError):
    """No established connection has this id (unknown, closed, or still in ``$connect``)."""


class BufferFull(RegistryError):
    """The connection's outbound buffer is full: its client is not reading fast enough.

    Nothing was sent; the management API answers 429 ``LimitExceededException``, as AWS
    does when "the WebSocket client side buffer is full".
    """


class DuplicateConnection(RegistryError):
    """A connection with this id is already registered."""

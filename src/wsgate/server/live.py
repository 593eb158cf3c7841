"""The parts of a gateway a config decides and a reload may replace while it serves.

Routes (their integrations and throttles), the authorizer, the route selection
expression and the connection limits: built here from a config, at start by
``build_gateway`` and again by a reload (``server.swap``), on the threads, watches and
function pools the gateway already has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, cast

from wsgate.auth.base import Authorizer
from wsgate.auth.request import RequestAuthorizer
from wsgate.config.model import GatewayConfig, JwtAuthorizerConfig
from wsgate.config.throttle import ThrottleSettings, resolve_throttle
from wsgate.core.claims import ClaimsPolicy
from wsgate.core.identity import IdentitySource, parse_identity_source
from wsgate.core.routing import RouteSelector, compile_selection_expression
from wsgate.core.throttle import TokenBucket
from wsgate.exceptions import ConfigError
from wsgate.integrations.base import Integration
from wsgate.integrations.blocking import BlockingWatch
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.handler import Handler
from wsgate.integrations.python import PythonIntegration, resolve_handler
from wsgate.integrations.threads import HandlerThreads
from wsgate.server.dispatch import Route
from wsgate.server.onehop import OneHop


__all__ = ["Functions", "Limits", "LiveParts", "Runners", "build_live_parts"]


class Functions(Protocol):
    """Where a route naming a function gets its integration (``FunctionPools``)."""

    def integration(self, name: str, timeout: float) -> Integration:
        """The integration of function ``name`` with a route's ``timeout``."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits and timers, in seconds and bytes."""

    idle_timeout: float
    max_connection_duration: float
    max_message_bytes: int
    max_frame_bytes: int
    max_fragments: int
    max_connections: int | None
    max_in_flight: int


@dataclass(frozen=True, slots=True)
class Runners:
    """What runs handlers, made once with the gateway and kept across reloads."""

    threads: HandlerThreads
    """The threads of plain ``def`` message handlers."""
    handshake_threads: HandlerThreads
    """The threads of plain ``def`` authorizers, ``$connect`` and ``$disconnect``."""
    deadlines: DeadlineWatch
    blocking: BlockingWatch


@dataclass(frozen=True, slots=True)
class LiveParts:
    """What ``build_live_parts`` makes of a config."""

    routes: dict[str, Route]
    selector: RouteSelector
    authorizer: Authorizer | None
    one_hop: OneHop | None
    connect_throttle: TokenBucket | None
    limits: Limits


# Routes run as part of a connection's opening or closing, on the handshake threads.
_HANDSHAKE_ROUTES = frozenset(("$connect", "$disconnect"))


def build_live_parts(
    config: GatewayConfig, runners: Runners, functions: Functions | None
) -> LiveParts:
    """Resolve every handler and expression of ``config`` now.

    Raises:
        ConfigError: a handler does not import, or an expression does not parse.
    """
    api_settings = config.api

    def integration(
        reference: str | None, function: str | None, timeout: float, pool: HandlerThreads
    ) -> Handler:
        """A ``function:`` runs in worker processes; a ``handler:`` in this process."""
        if function is not None and functions is not None:
            made = functions.integration(function, timeout)
        elif reference is None:  # the config model requires one of the two
            raise ConfigError("a route or authorizer needs a handler or a function")
        else:
            made = PythonIntegration(
                reference,
                resolve_handler(reference),
                timeout=timeout,
                threads=pool,
                region=api_settings.region,
                account_id=api_settings.account_id,
            )
        return Handler(made, runners.deadlines, runners.blocking)

    try:
        selector = compile_selection_expression(api_settings.route_selection_expression)
    except ValueError as exc:
        raise ConfigError(f"api.route_selection_expression: {exc}") from None
    routes = {
        key: Route(
            integration(
                route.handler,
                route.function,
                route.timeout,
                runners.handshake_threads if key in _HANDSHAKE_ROUTES else runners.threads,
            ),
            route.response,
            _bucket(api_settings.throttle, route.throttle),
        )
        for key, route in config.routes.items()
    }
    authorizer: Authorizer | None = None
    if config.authorizer is not None:
        sources = []
        for index, text in enumerate(config.authorizer.identity_source):
            try:
                sources.append(parse_identity_source(text))
            except ValueError as exc:
                raise ConfigError(f"authorizer.identity_source[{index}]: {exc}") from None
        if isinstance(config.authorizer, JwtAuthorizerConfig):
            authorizer = _jwt_authorizer(config.authorizer, sources)
        else:
            authorizer = RequestAuthorizer(
                integration(
                    config.authorizer.handler,
                    config.authorizer.function,
                    config.authorizer.timeout,
                    runners.handshake_threads,
                ),
                sources,
            )
    connect = routes.get("$connect")
    one_hop = None
    if authorizer is not None and connect is not None:
        if OneHop.applies(authorizer, connect.handler.integration):
            one_hop = OneHop(
                cast(RequestAuthorizer, authorizer),
                cast(PythonIntegration, connect.handler.integration),
                runners.handshake_threads,
            )
    limits = Limits(
        idle_timeout=api_settings.idle_timeout,
        max_connection_duration=api_settings.max_connection_duration,
        max_message_bytes=api_settings.max_message_bytes,
        max_frame_bytes=api_settings.max_frame_bytes,
        max_fragments=api_settings.max_fragments,
        max_connections=api_settings.max_connections,
        max_in_flight=config.handlers.max_in_flight,
    )
    return LiveParts(
        routes=routes,
        selector=selector,
        authorizer=authorizer,
        one_hop=one_hop,
        # Every upgrade counts, with or without a $connect route.
        connect_throttle=connect.throttle
        if connect is not None
        else _bucket(api_settings.throttle, None),
        limits=limits,
    )


def _jwt_authorizer(config: JwtAuthorizerConfig, sources: list[IdentitySource]) -> Authorizer:
    """The JWT authorizer and its key store; nothing is fetched before the first token."""
    # Imported only when configured: PyJWT and cryptography add megabytes to every process.
    from wsgate.auth.jwks import FileJwksSource, HttpJwksSource, JwksSource, KeyStore
    from wsgate.auth.jwt import JwtAuthorizer

    source: JwksSource
    if config.jwks_file is not None:
        source = FileJwksSource(config.jwks_file)
    else:
        source = HttpJwksSource(config.resolved_jwks_uri(), timeout=config.jwks_timeout)
    keys = KeyStore(
        source,
        cache_ttl=config.jwks_cache_ttl,
        min_refresh_interval=config.jwks_min_refresh_interval,
    )
    policy = ClaimsPolicy(
        issuer=config.issuer,
        audiences=frozenset(config.audience),
        token_use=config.token_use,
        required_scopes=frozenset(config.required_scopes),
        leeway=config.leeway,
    )
    return JwtAuthorizer(policy, config.algorithms, keys, sources)


def _bucket(stage: ThrottleSettings | None, route: ThrottleSettings | None) -> TokenBucket | None:
    """A route's token bucket, or None when it is not throttled."""
    throttle = resolve_throttle(stage, route)
    if throttle is None:
        return None
    rate, burst = throttle
    return TokenBucket(rate, burst, time.monotonic())

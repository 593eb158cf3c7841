"""The running gateway's parts, wired once from the config: routes, authorizer, registry."""

from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from wsgate.auth.base import Authorizer
from wsgate.auth.request import RequestAuthorizer
from wsgate.config.model import GatewayConfig, JwtAuthorizerConfig
from wsgate.config.throttle import ThrottleSettings, resolve_throttle
from wsgate.core.claims import ClaimsPolicy
from wsgate.core.identity import IdentitySource, parse_identity_source
from wsgate.core.ids import api_id_for
from wsgate.core.request import ApiContext
from wsgate.core.routing import compile_selection_expression
from wsgate.core.throttle import TokenBucket
from wsgate.exceptions import ConfigError
from wsgate.integrations.blocking import BlockingWatch
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.handler import Handler
from wsgate.integrations.python import PythonIntegration, resolve_handler
from wsgate.integrations.threads import HandlerThreads
from wsgate.registry import Registry, create_registry
from wsgate.server.credentials import default_credentials
from wsgate.server.dispatch import Dispatcher, Route
from wsgate.server.inprocess import install_hook
from wsgate.server.onehop import OneHop
from wsgate.server.traffic import Traffic


if TYPE_CHECKING:
    from wsgate.workers import FunctionPools
    from wsgate.workers.invoke_api import InvokeApi


__all__ = ["Gateway", "Limits", "build_gateway"]


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


@dataclass(slots=True)
class Gateway:
    """Everything a connection or a management request needs, built once at start."""

    config: GatewayConfig
    api: ApiContext
    routes: dict[str, Route]
    authorizer: Authorizer | None
    registry: Registry
    threads: HandlerThreads
    """The threads of plain ``def`` message handlers."""
    handshake_threads: HandlerThreads
    """The threads of plain ``def`` authorizers, ``$connect`` and ``$disconnect``."""
    limits: Limits
    dispatcher: Dispatcher
    one_hop: OneHop | None = None
    """Set when the authorizer and ``$connect`` are both ``def`` handlers: they then run
    in one trip to the handler threads."""
    traffic: Traffic = field(default_factory=Traffic)
    """What the gateway is doing now; everything else here is fixed at start."""
    functions: FunctionPools | None = None
    """The worker pools of ``functions:`` (None without any): workers start on demand and
    are stopped at cleanup, after the connections' ``$disconnect``."""
    invoke_api: InvokeApi | None = None
    """Lambda's Invoke API for ``functions:``, started and stopped with the application."""
    connect_throttle: TokenBucket | None = None
    """``$connect``'s token bucket (``api.throttle`` and the route's own), with or without
    a ``$connect`` route: every upgrade counts."""

    def set_domain_name(self, domain_name: str) -> None:
        """Fix ``requestContext.domainName`` once the listening ports are known."""
        api = self.api
        self.api = ApiContext(
            api_id=api.api_id,
            stage=api.stage,
            domain_name=domain_name,
            region=api.region,
            account_id=api.account_id,
        )
        self.dispatcher.set_api(self.api)


def _apply_handler_settings(config: GatewayConfig) -> None:
    """Make handlers importable and give them their environment, as Lambda would."""
    handler_path = str(Path(config.handlers.path).resolve())
    if handler_path not in sys.path:
        sys.path.insert(0, handler_path)
    os.environ.setdefault("AWS_REGION", config.api.region)
    os.environ.setdefault("AWS_DEFAULT_REGION", config.api.region)
    os.environ.update(config.handlers.environment)


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


def _registry(config: GatewayConfig, api: ApiContext) -> Registry:
    """The configured registry. Redis keys are namespaced by API and stage as well, so that
    APIs sharing one Redis and prefix never reach each other's connections."""
    settings = config.registry
    return create_registry(
        settings.backend,
        url=settings.url,
        cluster=settings.cluster,
        prefix=f"{settings.prefix}:{api.api_id}:{api.stage}:",
        # A connection lives at most this long, so its entry may expire then.
        entry_ttl=config.api.max_connection_duration + 60,
        lease=settings.lease,
        reply_timeout=settings.reply_timeout,
    )


def _invoke_api(config: GatewayConfig, functions: FunctionPools | None) -> InvokeApi | None:
    """Lambda's Invoke API for ``functions:``, its port bound now (it listens at start)."""
    if functions is None:
        return None
    from wsgate.workers.invoke_api import InvokeApi

    api = config.api
    return InvokeApi(functions.pools, region=api.region, account_id=api.account_id, reserve=True)


def _function_pools(config: GatewayConfig) -> FunctionPools | None:
    """The worker pools of ``functions:``; no process starts before an invocation."""
    if not config.functions:
        return None
    # Imported only when configured, as the JWT authorizer is.
    from wsgate.workers import FunctionPools

    return FunctionPools.from_config(
        config.functions, region=config.api.region, account_id=config.api.account_id
    )


# Routes run as part of a connection's opening or closing, on the handshake threads.
_HANDSHAKE_ROUTES = frozenset(("$connect", "$disconnect"))


def build_gateway(config: GatewayConfig, *, registry: Registry | None = None) -> Gateway:
    """Resolve every handler and expression now, so that a bad config fails at start.

    Raises:
        ConfigError: a handler does not import, or an expression does not parse.
    """
    _apply_handler_settings(config)
    # Before any handler module is imported: a boto3 client made at import time resolves
    # its credentials then.
    default_credentials(config.management.auth == "sigv4")
    if config.handlers.in_process_management:
        # Before any handler module is imported, so that clients made at import time
        # have the hook too.
        install_hook()
    threads = HandlerThreads(config.handlers.max_threads)
    # The authorizer, $connect and $disconnect have threads of their own: however many
    # slow message handlers run, a handshake never waits behind them.
    handshake_threads = HandlerThreads(config.handlers.handshake_threads, "wsgate-handshake")
    deadlines = DeadlineWatch()
    blocking = BlockingWatch(config.handlers.blocking_warning)
    api_settings = config.api

    def handler(reference: str, timeout: float, pool: HandlerThreads) -> Handler:
        integration = PythonIntegration(
            reference,
            resolve_handler(reference),
            timeout=timeout,
            threads=pool,
            region=api_settings.region,
            account_id=api_settings.account_id,
        )
        return Handler(integration, deadlines, blocking)

    functions = _function_pools(config)
    invoke_api = _invoke_api(config, functions)

    def integration(
        reference: str | None, function: str | None, timeout: float, pool: HandlerThreads
    ) -> Handler:
        """A ``function:`` runs in worker processes; a ``handler:`` in this process."""
        if function is not None and functions is not None:
            return Handler(functions.integration(function, timeout), deadlines, blocking)
        if reference is None:  # the config model requires one of the two
            raise ConfigError("a route or authorizer needs a handler or a function")
        return handler(reference, timeout, pool)

    try:
        selector = compile_selection_expression(api_settings.route_selection_expression)
    except ValueError as exc:
        raise ConfigError(f"api.route_selection_expression: {exc}") from None
    # Handler modules are imported here: a Lambda client one makes at import time reads
    # AWS_ENDPOINT_URL_LAMBDA now, so it names the Invoke API's port already.
    with invoke_api.endpoint_set() if invoke_api is not None else nullcontext():
        routes = {
            key: Route(
                integration(
                    route.handler,
                    route.function,
                    route.timeout,
                    handshake_threads if key in _HANDSHAKE_ROUTES else threads,
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
                        handshake_threads,
                    ),
                    sources,
                )
    api = ApiContext(
        api_id=api_settings.api_id or api_id_for(api_settings.name),
        stage=api_settings.stage,
        domain_name=config.server.domain_name or "localhost",
        region=api_settings.region,
        account_id=api_settings.account_id,
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
    connect = routes.get("$connect")
    one_hop = None
    if authorizer is not None and connect is not None:
        if OneHop.applies(authorizer, connect.handler.integration):
            one_hop = OneHop(
                cast(RequestAuthorizer, authorizer),
                cast(PythonIntegration, connect.handler.integration),
                handshake_threads,
            )
    return Gateway(
        config=config,
        api=api,
        routes=routes,
        authorizer=authorizer,
        one_hop=one_hop,
        registry=registry if registry is not None else _registry(config, api),
        threads=threads,
        handshake_threads=handshake_threads,
        limits=limits,
        dispatcher=Dispatcher(api, selector, routes, api_settings.max_message_bytes),
        functions=functions,
        invoke_api=invoke_api,
        connect_throttle=connect.throttle
        if connect is not None
        else _bucket(api_settings.throttle, None),
    )


def _bucket(stage: ThrottleSettings | None, route: ThrottleSettings | None) -> TokenBucket | None:
    """A route's token bucket, or None when it is not throttled."""
    throttle = resolve_throttle(stage, route)
    if throttle is None:
        return None
    rate, burst = throttle
    return TokenBucket(rate, burst, time.monotonic())

"""The running gateway's parts, wired once from the config: routes, authorizer, registry."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wsgate.auth.base import Authorizer
from wsgate.config.model import GatewayConfig
from wsgate.core.ids import api_id_for
from wsgate.core.request import ApiContext
from wsgate.core.throttle import TokenBucket
from wsgate.integrations.blocking import BlockingWatch
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.threads import HandlerThreads
from wsgate.registry import Registry, create_registry
from wsgate.server.credentials import default_credentials
from wsgate.server.dispatch import Dispatcher, Route
from wsgate.server.inprocess import install_hook
from wsgate.server.live import Limits, Runners, build_live_parts
from wsgate.server.onehop import OneHop
from wsgate.server.traffic import Traffic


if TYPE_CHECKING:
    from wsgate.workers import FunctionPools
    from wsgate.workers.invoke_api import InvokeApi


__all__ = ["Gateway", "Limits", "build_gateway"]


@dataclass(slots=True)
class Gateway:
    """Everything a connection or a management request needs, built once at start.

    A reload (``server.swap``) replaces ``config``, ``routes``, ``authorizer``,
    ``one_hop``, ``limits`` and ``connect_throttle`` together, between two events of the
    loop; a connection reads them anew for each message or handshake."""

    config: GatewayConfig
    api: ApiContext
    routes: dict[str, Route]
    authorizer: Authorizer | None
    registry: Registry
    runners: Runners
    """The threads and watches the handlers run on, kept when a reload rebuilds routes."""
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


def _registry(config: GatewayConfig, api: ApiContext) -> Registry:
    """The configured registry. Redis keys are namespaced by API and stage as well, so that
    APIs sharing one Redis and prefix never reach each other's connections."""
    settings = config.registry
    link_listen, link_advertise = settings.link_addresses()
    return create_registry(
        settings.backend,
        url=settings.url,
        cluster=settings.cluster,
        prefix=f"{settings.prefix}:{api.api_id}:{api.stage}:",
        # A connection lives at most this long, so its entry may expire then.
        entry_ttl=config.api.max_connection_duration + 60,
        lease=settings.lease,
        reply_timeout=settings.reply_timeout,
        link_listen=link_listen,
        link_advertise=link_advertise,
    )


def _invoke_api(config: GatewayConfig, functions: FunctionPools | None) -> InvokeApi | None:
    """Lambda's Invoke API for ``functions:``, its port bound now (it listens at start)."""
    if functions is None:
        return None
    from wsgate.workers.invoke_api import InvokeApi

    api = config.api
    aliases = {
        function.deployed_name: name
        for name, function in config.functions.items()
        if function.deployed_name
    }
    return InvokeApi(
        functions.pools,
        region=api.region,
        account_id=api.account_id,
        reserve=True,
        aliases=aliases,
    )


def _function_pools(config: GatewayConfig) -> FunctionPools | None:
    """The worker pools of ``functions:``; no process starts before an invocation."""
    if not config.functions:
        return None
    # Imported only when configured, as the JWT authorizer is.
    from wsgate.workers import FunctionPools

    return FunctionPools.from_config(
        config.functions,
        region=config.api.region,
        account_id=config.api.account_id,
        environment=config.aws.variables(),
    )


def build_gateway(config: GatewayConfig, *, registry: Registry | None = None) -> Gateway:
    """Resolve every handler and expression now, so that a bad config fails at start.

    Raises:
        ConfigError: a handler does not import, or an expression does not parse.
    """
    _apply_handler_settings(config)
    # Before any handler module is imported: a boto3 client made at import time resolves
    # its credentials then.
    default_credentials(config.management.auth == "sigv4")
    # aws.endpoints for in-process handlers too, before their modules make clients.
    os.environ.update(config.aws.variables())
    if config.handlers.in_process_management:
        # Before any handler module is imported, so that clients made at import time
        # have the hook too.
        install_hook()
    runners = Runners(
        # Messages are begun from data_received: their calls are handed over per turn.
        threads=HandlerThreads(config.handlers.max_threads, per_turn=True),
        # The authorizer, $connect and $disconnect have threads of their own: however
        # many slow message handlers run, a handshake never waits behind them.
        handshake_threads=HandlerThreads(config.handlers.handshake_threads, "wsgate-handshake"),
        deadlines=DeadlineWatch(),
        blocking=BlockingWatch(config.handlers.blocking_warning),
    )
    functions = _function_pools(config)
    invoke_api = _invoke_api(config, functions)
    # Handler modules are imported here: a Lambda client one makes at import time reads
    # AWS_ENDPOINT_URL_LAMBDA now, so it names the Invoke API's port already.
    with invoke_api.endpoint_set() if invoke_api is not None else nullcontext():
        parts = build_live_parts(config, runners, functions)
    api_settings = config.api
    api = ApiContext(
        api_id=api_settings.api_id or api_id_for(api_settings.name),
        stage=api_settings.stage,
        domain_name=config.server.domain_name or "localhost",
        region=api_settings.region,
        account_id=api_settings.account_id,
    )
    return Gateway(
        config=config,
        api=api,
        routes=parts.routes,
        authorizer=parts.authorizer,
        one_hop=parts.one_hop,
        registry=registry if registry is not None else _registry(config, api),
        runners=runners,
        limits=parts.limits,
        dispatcher=Dispatcher(api, parts.selector, parts.routes, api_settings.max_message_bytes),
        functions=functions,
        invoke_api=invoke_api,
        connect_throttle=parts.connect_throttle,
    )

"""Put a new config in service on a running gateway, without dropping a connection.

``Swap`` builds everything the new config needs first (function pools checked, handlers
imported, expressions compiled), touching nothing that serves: if that fails, the gateway
goes on as it was. ``apply`` then replaces the gateway's routes, authorizer, limits and
functions between two events of the loop. A message already begun is answered through
the route it took; the next one, on any connection, takes the new routes.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

from wsgate.auth.base import Authorizer
from wsgate.config.model import GatewayConfig, JwtAuthorizerConfig
from wsgate.exceptions import ConfigError
from wsgate.server.config_split import LIVE_API_SETTINGS, live_config
from wsgate.server.gateway import Gateway
from wsgate.server.live import build_live_parts
from wsgate.workers.update import FunctionChanges, PoolsUpdate


__all__ = ["Applied", "Swap"]


@dataclass(frozen=True)
class Applied:
    """What ``Swap.apply`` changed."""

    changes: tuple[str, ...]
    """One phrase per kind of change: ``routes +ping -echo``, ``authorizer``."""
    retired: int
    """Workers retired: they take no further invocation."""
    former_authorizer: Authorizer | None
    """The authorizer replaced, to be closed (None when kept)."""


class Swap:
    """A new config made ready to serve on ``gateway``; see the module's docstring."""

    def __init__(self, gateway: Gateway, new: GatewayConfig) -> None:
        """Build what ``new`` needs.

        Raises:
            ConfigError: a handler does not import, an expression does not parse, a code
                folder is missing, or ``new`` has functions where the gateway started
                with none.
        """
        self._gateway = gateway
        self.config, restart = live_config(gateway.config, new)
        self.restart = tuple(restart)
        """Key paths of settings that changed but need a restart."""
        running = gateway.config
        api = self.config.api
        self._functions: PoolsUpdate | None = None
        if gateway.functions is not None:
            self._functions = PoolsUpdate(
                gateway.functions,
                self.config.functions,
                region=api.region,
                account_id=api.account_id,
                environment=self.config.aws.variables(),
            )
        elif self.config.functions:
            raise ConfigError("functions: the gateway started with none: restart to run them")
        self._keep_authorizer = isinstance(running.authorizer, JwtAuthorizerConfig) and (
            running.authorizer == self.config.authorizer
        )
        invoke_api = gateway.invoke_api  # a handler module's import-time client names it
        with invoke_api.endpoint_set() if invoke_api is not None else nullcontext():
            self._parts = build_live_parts(self.config, gateway.runners, self._functions)
        self._changes = _describe(
            running,
            self.config,
            self._functions.changes if self._functions is not None else FunctionChanges(),
        )

    def apply(self) -> Applied:
        """Serve with the new config from now on."""
        gateway, parts, config = self._gateway, self._parts, self.config
        retired = self._functions.apply() if self._functions is not None else 0
        former = gateway.authorizer
        gateway.config = config
        gateway.routes = parts.routes
        gateway.limits = parts.limits
        gateway.connect_throttle = parts.connect_throttle
        if not self._keep_authorizer:  # a JWT authorizer's keys stay cached when it is the same
            gateway.authorizer = parts.authorizer
            gateway.one_hop = parts.one_hop
        gateway.dispatcher.set_routes(parts.selector, parts.routes, config.api.max_message_bytes)
        observer = gateway.dispatcher.observer
        if observer is not None and observer.metrics is not None:
            observer.metrics.add_routes(parts.routes)
        if gateway.invoke_api is not None and gateway.functions is not None:
            gateway.invoke_api.set_pools(gateway.functions.pools)
        replaced = former if former is not None and former is not gateway.authorizer else None
        return Applied(self._changes, retired, replaced)


def _describe(
    running: GatewayConfig, new: GatewayConfig, functions: FunctionChanges
) -> tuple[str, ...]:
    """One phrase per kind of change from ``running`` to ``new``."""
    changes = []
    routes = _marks(
        added=[k for k in new.routes if k not in running.routes],
        removed=[k for k in running.routes if k not in new.routes],
        changed=[
            k for k in new.routes if k in running.routes and running.routes[k] != new.routes[k]
        ],
    )
    if routes:
        changes.append(f"routes {routes}")
    named = _marks(
        added=list(functions.added),
        removed=list(functions.removed),
        changed=[f"{name} ({', '.join(what)})" for name, what in functions.changed.items()],
    )
    if named:
        changes.append(f"functions {named}")
    if running.authorizer != new.authorizer:
        changes.append("authorizer")
    changes += [
        f"api.{name}"
        for name in sorted(LIVE_API_SETTINGS)
        if getattr(running.api, name) != getattr(new.api, name)
    ]
    return tuple(changes)


def _marks(*, added: list[str], removed: list[str], changed: list[str]) -> str:
    """``+new -gone ~changed``, each name once."""
    return " ".join(
        [f"+{name}" for name in added]
        + [f"-{name}" for name in removed]
        + [f"~{name}" for name in changed]
    )

"""A reload's change to the function pools: checked whole first, then applied at once.

``PoolsUpdate`` validates every function of the new config (runtime installed, code
folder present) and makes pools for the added ones, changing nothing that serves yet; the
routes of the new config are built on its ``integration``. Only ``apply`` touches the
running pools: a function whose settings changed keeps its pool (what holds it, such as
the Invoke API's queues, still reaches it) with the new settings and its workers retired;
a removed function's pool drains and is stopped with the gateway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from wsgate.config.model import FunctionConfig
from wsgate.exceptions import ConfigError
from wsgate.workers.pool import FunctionIntegration, FunctionPool, FunctionPools, function_spec
from wsgate.workers.runtimes import RuntimeKind
from wsgate.workers.spec import FunctionSpec


__all__ = ["FunctionChanges", "PoolsUpdate"]


@dataclass(frozen=True)
class FunctionChanges:
    """What a reload changes in ``functions:``."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each function whose settings changed, with the names of those settings."""

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


class PoolsUpdate:
    """The pools a new ``functions:`` needs; see the module's docstring."""

    def __init__(
        self,
        pools: FunctionPools,
        functions: Mapping[str, FunctionConfig],
        *,
        region: str,
        account_id: str,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """Check every function of ``functions``; ``environment`` is given to each under
        its own (``aws.endpoints``).

        Raises:
            ConfigError: a runtime client is not installed, or a code folder is missing.
        """
        self._pools = pools
        self._specs: dict[str, tuple[FunctionSpec, RuntimeKind]] = {
            name: function_spec(
                name, config, region=region, account_id=account_id, environment=environment
            )
            for name, config in functions.items()
        }
        self._added = {
            name: FunctionPool(spec, kind)
            for name, (spec, kind) in self._specs.items()
            if name not in pools.pools
        }
        changed = {}
        for name, (spec, _kind) in self._specs.items():
            pool = pools.pools.get(name)
            if pool is not None and pool.spec != spec:  # the spec names its runtime
                changed[name] = _differences(pool.spec, spec)
        self.changes = FunctionChanges(
            added=tuple(self._added),
            removed=tuple(name for name in pools.pools if name not in self._specs),
            changed=changed,
        )

    def integration(self, name: str, timeout: float) -> FunctionIntegration:
        """The integration of a route naming function ``name`` once applied; see
        ``FunctionPools.integration``.

        Raises:
            ConfigError: no function ``name`` in the new config.
        """
        if name not in self._specs:
            raise ConfigError(f"no function {name!r} in functions:")
        spec, _kind = self._specs[name]
        pool = self._pools.pools.get(name) or self._added[name]
        return FunctionIntegration(pool, min(timeout, spec.timeout))

    def apply(self) -> int:
        """Serve with the new functions; how many workers were retired."""
        retired = 0
        # Forget the drained pools of earlier reloads that have finished.
        self._pools.drained = {p for p in self._pools.drained if p.workers or p.waiting}
        for name in self.changes.changed:
            spec, kind = self._specs[name]
            retired += self._pools.pools[name].replace(spec, kind)
        for name in self.changes.removed:
            pool = self._pools.pools.pop(name)
            retired += pool.drain()
            self._pools.drained.add(pool)
        self._pools.pools.update(self._added)
        return retired


def _differences(old: FunctionSpec, new: FunctionSpec) -> tuple[str, ...]:
    """The names of the settings that differ between ``old`` and ``new``."""
    return tuple(
        item.name
        for item in dataclasses.fields(FunctionSpec)
        if getattr(old, item.name) != getattr(new, item.name)
    )

"""A function's workers: started on demand up to its concurrency, reused warm, reaped idle.

An invocation goes to an idle worker if there is one (the one that finished last: the
warmest; a worker is idle from the moment it answered, since its runtime polls again at
once), else to a new worker while fewer than ``concurrency`` live, else it waits in a
line of at most ``max_waiting`` (ten per worker by default). Past that it fails at once
with ``TooManyRequestsException``, as Lambda throttles an Invoke with 429; a route's
client then gets the same answer as for any function error, and the gateway logs it.
A worker idle for ``idle_timeout`` seconds is stopped. A worker that dies is replaced
only when an invocation needs one.

``retire`` (hot reload: the function's code or settings changed) lets no worker started
before it take another invocation: an idle one stops at once, a busy one once it has
answered, and the next invocation starts a worker from the code as it is now. Nothing
in flight or waiting fails for it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from functools import partial

import orjson

from wsgate.config.model import FunctionConfig
from wsgate.exceptions import ConfigError
from wsgate.integrations.base import Event, InvokeContext
from wsgate.workers.errors import FunctionError, FunctionThrottled
from wsgate.workers.invocation import Invocation
from wsgate.workers.runtimes import RuntimeKind, runtime_kind
from wsgate.workers.spec import FunctionSpec
from wsgate.workers.worker import Worker


__all__ = [
    "WAITING_PER_WORKER",
    "FunctionIntegration",
    "FunctionPool",
    "FunctionPools",
    "function_spec",
]

WAITING_PER_WORKER = 10
"""The waiting line holds this many invocations per worker the function may have."""

log = logging.getLogger("wsgate.workers")


class FunctionPool:
    """The workers of one function; ``invoke`` is its ``Integration.invoke``."""

    def __init__(
        self, spec: FunctionSpec, kind: RuntimeKind, *, max_waiting: int | None = None
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._kind = kind
        self._waiting_limit = max_waiting
        self._max_waiting = (
            spec.concurrency * WAITING_PER_WORKER if max_waiting is None else max_waiting
        )
        self.workers: set[Worker] = set()
        """Every live worker: starting, idle or busy."""
        self._idle: list[Worker] = []
        """Workers holding no invocation, the one free last at the end."""
        self._waiting: collections.deque[Invocation] = collections.deque()
        self._stopping: set[asyncio.Task[None]] = set()
        self._retiring: set[Worker] = set()
        """Busy workers started before ``retire``: they stop once they have answered."""
        self._draining = False
        """The function is gone from the config: no worker idles any more."""
        self._closed = False

    def invoke(
        self, event: Event, context: InvokeContext, *, client_context: str | None = None
    ) -> asyncio.Future[object]:
        """Begin an invocation; the future gives its result, or a ``FunctionError``.

        ``client_context`` is the JSON text of an Invoke's client context, which the
        runtime gets as ``Lambda-Runtime-Client-Context``. Cancelling the future (the
        caller's deadline) kills the worker running it.
        """
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(FunctionError("Runtime.ExitError", "the gateway is stopping"))
            return future
        try:
            body = orjson.dumps(event)
        except orjson.JSONEncodeError as error:
            future.set_exception(FunctionError("Runtime.UnmarshalError", str(error)))
            return future
        invocation = Invocation(context.request_id, body, context.deadline, future, client_context)
        future.add_done_callback(partial(self._settled, invocation))
        if self._idle:
            worker = self._idle.pop()
            self._unidle(worker)
            worker.assign(invocation)
        elif len(self.workers) < self.spec.concurrency:
            self._launch(invocation)
        elif len(self._waiting) < self._max_waiting:
            self._waiting.append(invocation)
        else:
            log.warning(
                "%s: throttled %s: %d workers busy, %d invocations waiting",
                self.name,
                invocation.request_id,
                len(self.workers),
                len(self._waiting),
            )
            future.set_exception(FunctionThrottled("Rate Exceeded."))
        return future

    @property
    def waiting(self) -> int:
        """Invocations waiting for a worker."""
        return len(self._waiting)

    def retire(self) -> int:
        """No worker live now takes another invocation; how many there were.

        Idle workers stop now, busy ones once they have answered (their invocation is not
        cut short); invocations waiting go to workers started from now on.
        """
        live = 0
        for worker in list(self.workers):
            live += 1
            if worker in self._idle:
                self._unidle(worker)
                self._stop(worker)
            else:
                self._retiring.add(worker)
        return live

    def replace(self, spec: FunctionSpec, kind: RuntimeKind) -> int:
        """Start workers from ``spec`` from now on, and ``retire`` the others."""
        self.spec = spec
        self._kind = kind
        if self._waiting_limit is None:
            self._max_waiting = spec.concurrency * WAITING_PER_WORKER
        return self.retire()

    def drain(self) -> int:
        """The function is gone: ``retire`` every worker, and stop any that ends up idle
        (one started for an invocation still waiting) instead of keeping it warm."""
        self._draining = True
        return self.retire()

    async def aclose(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL); invocations still waiting fail."""
        self._closed = True
        while self._waiting:
            invocation = self._waiting.popleft()
            if not invocation.future.done():
                invocation.future.set_exception(
                    FunctionError("Runtime.ExitError", "the gateway is stopping")
                )
        for worker in list(self.workers):
            self._unidle(worker)
            self._stop(worker)
        if self._stopping:
            await asyncio.wait(set(self._stopping))

    # --- WorkerOwner -------------------------------------------------------------------

    def worker_free(self, worker: Worker) -> None:
        """Give ``worker`` the first invocation waiting, or let it idle."""
        if self._closed or worker not in self.workers:
            return
        if worker in self._retiring:  # started before a reload: the next one is fresh
            self._retiring.discard(worker)
            self._stop(worker)
            return
        while self._waiting:
            invocation = self._waiting.popleft()
            if not invocation.future.done():
                worker.assign(invocation)
                return
        if self._draining:
            self._stop(worker)
        elif worker not in self._idle:
            self._idle.append(worker)
            loop = asyncio.get_running_loop()
            worker.idle_timer = loop.call_later(self.spec.idle_timeout, self._reap, worker)

    def requeue(self, invocation: Invocation) -> None:
        """First in line again: its worker ended before it began."""
        if self._closed:
            if not invocation.future.done():
                invocation.future.set_exception(
                    FunctionError("Runtime.ExitError", "the gateway is stopping")
                )
            return
        self._waiting.appendleft(invocation)

    def worker_gone(self, worker: Worker) -> None:
        """Forget ``worker``; start another if invocations wait."""
        self.workers.discard(worker)
        self._retiring.discard(worker)
        self._unidle(worker)
        while self._waiting and not self._closed and len(self.workers) < self.spec.concurrency:
            invocation = self._waiting.popleft()
            if not invocation.future.done():
                self._launch(invocation)

    # --- helpers -----------------------------------------------------------------------

    def _launch(self, invocation: Invocation) -> None:
        worker = Worker(self.spec, self._kind, self)
        self.workers.add(worker)
        worker.launch(invocation)

    def _settled(self, invocation: Invocation, future: asyncio.Future[object]) -> None:
        """Its caller gave up (cancelled it): out of the line, or its worker killed."""
        if not future.cancelled():
            return
        if invocation.worker is not None:
            invocation.worker.abort(invocation)
        else:
            try:
                self._waiting.remove(invocation)
            except ValueError:
                pass

    def _unidle(self, worker: Worker) -> None:
        if worker in self._idle:
            self._idle.remove(worker)
        if worker.idle_timer is not None:
            worker.idle_timer.cancel()
            worker.idle_timer = None

    def _reap(self, worker: Worker) -> None:
        """``worker`` idled for ``idle_timeout``: stop it."""
        worker.idle_timer = None
        if worker in self._idle:
            self._idle.remove(worker)
            log.debug("%s: worker %s idle, stopped", self.name, worker.pid)
            self._stop(worker)

    def _stop(self, worker: Worker) -> None:
        task = asyncio.get_running_loop().create_task(worker.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)


class FunctionIntegration:
    """``Integration`` for a function: its pool's ``invoke``, with the route's timeout.

    The future it returns is resolved by the worker's Runtime API; the caller
    (``Handler``) cancels it at the deadline, which kills the worker running it.
    """

    def __init__(self, pool: FunctionPool, timeout: float) -> None:
        self.name = pool.name
        self.timeout = timeout
        self.pool = pool

    def invoke(self, event: Event, context: InvokeContext) -> asyncio.Future[object]:
        """Begin the function on ``event``; see ``Integration.invoke``."""
        return self.pool.invoke(event, context)


class FunctionPools:
    """Every function's pool, built from ``functions:``; closed with the gateway."""

    def __init__(self, pools: Mapping[str, FunctionPool]) -> None:
        self.pools = dict(pools)
        self.drained: set[FunctionPool] = set()
        """Pools of functions a reload removed, kept until the gateway stops: a worker
        may still be finishing an invocation."""

    @classmethod
    def from_config(
        cls,
        functions: Mapping[str, FunctionConfig],
        *,
        region: str,
        account_id: str,
        environment: Mapping[str, str] | None = None,
    ) -> FunctionPools:
        """A pool per function; nothing starts before the first invocation.

        ``environment`` is given to every function under its own (``aws.endpoints``).

        Raises:
            ConfigError: a function's runtime client is not installed, or its code folder
                is missing.
        """
        pools = {}
        for name, config in functions.items():
            spec, kind = function_spec(
                name, config, region=region, account_id=account_id, environment=environment
            )
            pools[name] = FunctionPool(spec, kind)
        return cls(pools)

    def integration(self, name: str, timeout: float) -> FunctionIntegration:
        """The integration of a route or authorizer naming function ``name``.

        Its timeout is the shorter of ``timeout`` (the route's) and the function's.
        """
        pool = self.pools[name]
        return FunctionIntegration(pool, min(timeout, pool.spec.timeout))

    async def aclose(self) -> None:
        """Stop every worker of every function."""
        pools = (*self.pools.values(), *self.drained)
        await asyncio.gather(*(pool.aclose() for pool in pools))


def function_spec(
    name: str,
    config: FunctionConfig,
    *,
    region: str,
    account_id: str,
    environment: Mapping[str, str] | None = None,
) -> tuple[FunctionSpec, RuntimeKind]:
    """The spec and runtime of ``functions.<name>``, checked; ``environment`` under the
    function's own (``aws.endpoints``).

    Raises:
        ConfigError: its runtime client is not installed, or its code folder is missing.
    """
    kind = runtime_kind(config.runtime, where=f"functions.{name}.runtime")
    spec = FunctionSpec.from_config(
        name, config, region=region, account_id=account_id, environment=environment
    )
    if not spec.code.is_dir():
        raise ConfigError(f"functions.{name}.code: no such folder: {spec.code}")
    return spec, kind

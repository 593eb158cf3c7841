"""Prometheus metrics: CloudWatch's WebSocket API metrics, and the gateway's own.

CloudWatch's names (CONTRACT-RUNTIME.md §7.1), with its dimensions as labels (``stage``,
``route``): ``ConnectCount``, ``MessageCount``, ``IntegrationError``, ``ClientError``,
``ExecutionError`` (counters, exposed with ``_total``) and ``IntegrationLatency`` (a
histogram, in milliseconds). The gateway's own are prefixed ``wsgate_``.

The hot path stays cheap: each route's numbers are plain ints in a ``RouteStats`` made at
start, bumped on the loop (no label lookup, no lock, no call into prometheus-client per
message); prometheus-client turns them into its text format when ``/metrics`` is
scraped, from a collector of ours, on the same loop. Only what may come from another
thread (a handler's management POST answered in its thread) goes through a lock, and it
is not per message. What can be read when scraped (open connections, handler threads) is
read then.

Each ``Metrics`` has a registry of its own, so several gateways in one process (tests)
never share a series.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from wsgate.integrations.threads import HandlerThreads
from wsgate.server.observe.labels import MANAGEMENT_ROUTE, UNROUTED


__all__ = ["LATENCY_BUCKETS_MS", "Metrics", "RouteStats", "pool_load"]

LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 29000)
"""``IntegrationLatency``'s buckets, in ms, up to API Gateway's 29 s integration timeout."""
_BOUNDS = (*(str(float(bound)) for bound in LATENCY_BUCKETS_MS), "+Inf")


class RouteStats:
    """One route's numbers, bumped on the loop only."""

    __slots__ = (
        "buckets",
        "client_errors",
        "connects",
        "execution_errors",
        "integration_errors",
        "latency_sum",
        "messages",
    )

    def __init__(self) -> None:
        self.messages = 0
        self.connects = 0
        self.client_errors = 0
        self.execution_errors = 0
        self.integration_errors = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        """Observations per bucket (not cumulative); the last is +Inf's."""
        self.latency_sum = 0.0

    def observe(self, ms: float) -> None:
        """One ``IntegrationLatency`` observation."""
        self.buckets[bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
        self.latency_sum += ms


class Metrics:
    """The gateway's numbers and the collector prometheus-client scrapes them with."""

    def __init__(
        self,
        stage: str,
        routes: Iterable[str],
        pools: Mapping[str, HandlerThreads],
        open_connections: Callable[[], int],
        remote_calls: Mapping[str, int] | None = None,
    ) -> None:
        """``remote_calls``: the Redis registry's count of operations on other
        processes' connections by the way they went (``link``, ``redis``), read when
        scraped; None with the memory registry."""
        self.stage = stage
        self.routes = {route: RouteStats() for route in (*routes, UNROUTED, MANAGEMENT_ROUTE)}
        self.bytes_in = 0
        self.bytes_out = 0
        """Replies' bytes (the loop's); posts' are ``posted_bytes``."""
        self.handshakes: dict[int, int] = {}
        # Management calls may be answered in a handler's thread (server.management's
        # post_from_thread): counted under a lock.
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, int], int] = {}
        self._posted = 0
        self._posted_bytes = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self, pools, open_connections, remote_calls))

    def add_routes(self, routes: Iterable[str]) -> None:
        """Count for ``routes`` too (a reload added them); a route removed keeps its
        counts, which Prometheus expects never to go back."""
        for route in routes:
            self.routes.setdefault(route, RouteStats())

    def handshake(self, status: int) -> None:
        """Count one handshake's outcome (on the loop)."""
        self.handshakes[status] = self.handshakes.get(status, 0) + 1

    def management_call(self, method: str, status: int, posted_bytes: int | None) -> None:
        """Count one management call; ``posted_bytes`` for a POST delivered."""
        with self._lock:
            key = (method, status)
            self._calls[key] = self._calls.get(key, 0) + 1
            if posted_bytes is not None:
                self._posted += 1
                self._posted_bytes += posted_bytes

    def management_counts(self) -> tuple[dict[tuple[str, int], int], int, int]:
        """(calls by method and status, posts delivered, their bytes), consistently."""
        with self._lock:
            return dict(self._calls), self._posted, self._posted_bytes

    def exposition(self) -> bytes:
        """The text format of every metric, for ``/metrics``."""
        return generate_latest(self.registry)


_ROUTE_COUNTERS = (
    ("ConnectCount", "connects", "Messages sent to the $connect route integration."),
    (
        "MessageCount",
        "messages",
        "Messages to or from clients: received (by route, - for none), two-way replies "
        "(their route), management API posts (@connections).",
    ),
    (
        "IntegrationError",
        "integration_errors",
        "Integration answers with a status of 400 or more ($connect refusing, a message "
        "handler's statusCode).",
    ),
    (
        "ClientError",
        "client_errors",
        "4XX answered before the integration ran (authorizer refusals, messages no route took).",
    ),
    (
        "ExecutionError",
        "execution_errors",
        "Errors calling the integration: it raised, timed out, or returned what cannot be sent.",
    ),
)


_REMOTE_PATHS = ("link", "redis")


class _Collector(Collector):
    """Every family, built from the numbers when scraped (on the loop)."""

    def __init__(
        self,
        metrics: Metrics,
        pools: Mapping[str, HandlerThreads],
        open_connections: Callable[[], int],
        remote_calls: Mapping[str, int] | None,
    ) -> None:
        self._metrics = metrics
        self._pools = pools
        self._open = open_connections
        self._remote = remote_calls

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        stage = metrics.stage
        calls, posted, posted_bytes = metrics.management_counts()
        for name, attribute, documentation in _ROUTE_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["stage", "route"])
            for route, stats in metrics.routes.items():
                value = getattr(stats, attribute)
                if route == MANAGEMENT_ROUTE and attribute == "messages":
                    value += posted
                family.add_metric([stage, route], value)
            yield family
        latency = HistogramMetricFamily(
            "IntegrationLatency",
            "Milliseconds from the integration's call to its answer ($connect: the "
            "authorizer's included).",
            labels=["stage", "route"],
        )
        for route, stats in metrics.routes.items():
            cumulative, buckets = 0, []
            for bound, count in zip(_BOUNDS, stats.buckets, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([stage, route], buckets, stats.latency_sum)
        yield latency
        handshakes = CounterMetricFamily(
            "wsgate_handshakes",
            "Handshakes after the authorizer and $connect: 101, or the status refusing it.",
            labels=["stage", "status"],
        )
        for status, count in sorted(metrics.handshakes.items()):
            handshakes.add_metric([stage, str(status)], count)
        yield handshakes
        management = CounterMetricFamily(
            "wsgate_management_calls",
            "Management API (@connections) calls by method and status.",
            labels=["stage", "method", "status"],
        )
        for (method, status), count in sorted(calls.items()):
            management.add_metric([stage, method, str(status)], count)
        yield management
        message_bytes = CounterMetricFamily(
            "wsgate_message_bytes",
            "Bytes of message payloads: in from clients, out to them (replies and posts).",
            labels=["stage", "direction"],
        )
        message_bytes.add_metric([stage, "in"], metrics.bytes_in)
        message_bytes.add_metric([stage, "out"], metrics.bytes_out + posted_bytes)
        yield message_bytes
        opened = GaugeMetricFamily(
            "wsgate_connections_open",
            "WebSocket connections open in this process (registered, not yet ended).",
            labels=["stage"],
        )
        opened.add_metric([stage], self._open())
        yield opened
        if self._remote is not None:
            remote = CounterMetricFamily(
                "wsgate_registry_remote_calls",
                "Operations on connections another process holds (redis registry), by "
                "the way they went: over the node link, or through Redis.",
                labels=["stage", "path"],
            )
            for path in _REMOTE_PATHS:
                remote.add_metric([stage, path], self._remote.get(path, 0))
            yield remote
        yield from self._pools_load()

    def _pools_load(self) -> Iterator[Metric]:
        most = GaugeMetricFamily(
            "wsgate_handler_threads_max",
            "Threads a pool of plain def handlers may start (handlers.max_threads: "
            "messages, handlers.handshake_threads: handshake).",
            labels=["pool"],
        )
        busy = GaugeMetricFamily(
            "wsgate_handler_threads_busy",
            "Threads of the pool running a handler now; at the max, calls queue.",
            labels=["pool"],
        )
        queued = GaugeMetricFamily(
            "wsgate_handler_queue",
            "Calls waiting for a thread of the pool (above 0: the pool is saturated).",
            labels=["pool"],
        )
        for name, pool in self._pools.items():
            load = pool_load(pool)
            most.add_metric([name], load[0])
            busy.add_metric([name], load[1])
            queued.add_metric([name], load[2])
        yield most
        yield busy
        yield queued


def pool_load(pool: HandlerThreads) -> tuple[int, int, int]:
    """A thread pool's (most threads, threads busy, calls no idle thread will take)."""
    return pool.load()

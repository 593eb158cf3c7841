"""Functions in worker processes (docs/workers.md) beside the in-process ``def`` route.

- **Round trips** through the two-way route served by a Python function (awslambdaric)
  and a Node.js one (aws-lambda-ric), each worker a process of its own behind the Lambda
  Runtime API, beside the same route with an in-process ``def`` handler
  (``echo-sync.yaml``), measured alternately. The CPU of the gateway's own process and of
  its workers is counted apart, so each round trip's cost is known on both sides.
- **Cold starts**: one connection sends to a function whose only worker is stopped once
  idle for :data:`COLD_IDLE` s; each message is sent once the previous worker is gone,
  so each is timed from the send to its answer through a new process. Beside them, the
  start of the bare interpreter and of the runtime client's import, on the same core.
- **Idle warm workers**: the resident (and proportional) memory of each worker left
  warm by the round trips.

The workers inherit the gateway's pinning: everything runs on the server core.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from benchmarks.procs import (
    HERE,
    LoadResult,
    Server,
    cpu_seconds,
    descendants,
    free_port,
    python_bin,
    rss_kb,
    run_loadgen,
)
from benchmarks.scenarios import STAGE, Bench, Measurement, _measurement, _median


__all__ = [
    "COLD_IDLE",
    "FUNCTION_LABELS",
    "function_server",
    "node_missing",
    "run_functions",
]

COLD_IDLE = 0.3
"""Seconds the ``cold`` function's worker idles before the gateway stops it."""
FUNCTION_LABELS = {"python": "python worker", "node": "node worker"}
IN_PROCESS = "in-process def"
COLD_MESSAGE = '{"action":"cold","data":"cold start"}'
STARTS_TIMEOUT = 30.0
"""Seconds one cold start (or the previous worker's exit) may take before the run fails."""


def node_missing() -> str | None:
    """None when Node.js workers can start here, else why not (``make node``)."""
    from wsgate.workers.runtimes import RUNTIMES

    return RUNTIMES["nodejs20.x"].installed()


def function_server(bench: Bench, runtime: str) -> Server:
    """``wsgate serve`` with ``configs/functions-<runtime>.yaml``; its CPU and memory
    count its workers too."""
    port = free_port()
    config = HERE / "configs" / f"functions-{runtime}.yaml"
    argv = [python_bin("wsgate"), "serve", "--config", str(config), "--log-level", "WARNING"]
    return Server(
        f"wsgate-functions-{runtime}",
        argv,
        port,
        bench.pinning,
        env={"BENCH_PORT": str(port), "BENCH_COLD_IDLE": str(COLD_IDLE)},
        tree=True,
    )


def workers_of(server: Server) -> list[int]:
    """The worker processes of a gateway: its children."""
    return [pid for pid in descendants(server.pid) if pid != server.pid]


class SplitCpu:
    """What ``run_loadgen`` samples, with the gateway's own CPU and its workers' kept apart."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.samples: list[tuple[float, float]] = []
        """(gateway, workers) CPU seconds at each sample."""

    def cpu(self) -> float:
        total = cpu_seconds(self.server.pids(), reaped=True)
        own = cpu_seconds([self.server.pid])
        self.samples.append((own, total - own))
        return total

    def rss_kb(self) -> int:
        return self.server.rss_kb()

    def per_trip_us(self, result: LoadResult) -> dict[str, float]:
        """CPU microseconds per round trip over the window, the gateway's and the workers'."""
        done = result.data["done"]
        if len(self.samples) < 2 or not done:
            return {}
        (g0, w0), (g1, w1) = self.samples[0], self.samples[-1]
        return {
            "gateway_cpu_us": round(1e6 * (g1 - g0) / done, 1),
            "workers_cpu_us": round(1e6 * (w1 - w0) / done, 1),
        }


def _load(bench: Bench, server: Server, conns: int, measured: SplitCpu | None) -> LoadResult:
    profile = bench.profile
    window = ["--warmup", str(profile.warmup), "--duration", str(profile.duration)]
    if profile.max_done:
        window += ["--max-done", str(profile.max_done)]
    args = ["--mode", "echo", "--conns", str(conns), "--path", f"/{STAGE}"]
    return run_loadgen(
        bench.loadgen,
        ["--port", str(server.port), *window, *args],
        measured if measured is not None else server,
        bench.pinning,
        timeout=profile.warmup + profile.duration + 120,
    )


def _round_trips(bench: Bench, servers: dict[str, Server]) -> None:
    for conns in bench.profile.function_conns:
        runs: dict[str, list[Measurement]] = {label: [] for label in servers}
        for _ in range(bench.profile.repeats):
            for label, server in servers.items():
                split = SplitCpu(server) if server.tree else None
                result = _load(bench, server, conns, split)
                costs = split.per_trip_us(result) if split is not None else {}
                runs[label].append(_measurement("fn-echo", label, result, "msgs/s", **costs))
                time.sleep(0.3)
        for label in servers:
            m = _median(runs[label])
            bench.results.append(m)
            cpu = ""
            if "gateway_cpu_us" in m.extra:
                cpu = (
                    f"  CPU per trip: gateway {m.extra['gateway_cpu_us']:,.0f} us, "
                    f"worker {m.extra['workers_cpu_us']:,.0f} us"
                )
            bench.say(
                f"  fn-echo     {label:<15} {conns:>4} conns {m.value:>9,.0f} msgs/s  "
                f"p50 {m.p50_us or 0:>7,.0f} us{cpu}"
            )


def _wait_for_workers(server: Server, allowed: set[int]) -> None:
    """Until no worker but ``allowed`` is alive (the cold function's is stopped)."""
    deadline = time.monotonic() + STARTS_TIMEOUT
    while set(workers_of(server)) - allowed:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: a cold worker was not stopped in time")
        time.sleep(0.02)


def _cold_starts(bench: Bench, server: Server, label: str) -> Measurement:
    """Messages to the ``cold`` route, each once its previous worker is gone."""
    from websockets.sync.client import connect

    warm = set(workers_of(server))
    times_ms: list[float] = []
    with connect(f"ws://127.0.0.1:{server.port}/{STAGE}", open_timeout=10) as ws:
        for _ in range(bench.profile.cold_starts):
            _wait_for_workers(server, warm)
            started = time.perf_counter()
            ws.send(COLD_MESSAGE)
            reply = ws.recv(timeout=STARTS_TIMEOUT)
            times_ms.append((time.perf_counter() - started) * 1000)
            if reply != COLD_MESSAGE:
                raise RuntimeError(f"{server.name}: cold start answered {reply!r}")
    _wait_for_workers(server, warm)
    return _times("cold-start", label, times_ms)


def _times(scenario: str, label: str, times_ms: Sequence[float]) -> Measurement:
    p50 = statistics.median(times_ms)
    return Measurement(
        scenario=scenario,
        server=label,
        conns=len(times_ms),
        value=p50,
        unit="ms",
        p50_us=p50 * 1000,
        max_us=max(times_ms) * 1000,
        extra={"times_ms": [round(t, 1) for t in times_ms]},
    )


def _process_starts(bench: Bench, label: str, argv: list[str], count: int) -> Measurement:
    """Wall time of ``argv`` from start to exit on the server core: what any new worker
    pays before the gateway sees it."""
    wrapped = bench.pinning.wrap(argv, bench.pinning.server)
    times_ms = []
    for _ in range(count):
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL)
        # A plain wait: Popen.wait(timeout) polls, in steps of up to 50 ms.
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        try:
            code = process.wait()
        finally:
            watchdog.cancel()
        times_ms.append((time.perf_counter() - started) * 1000)
        if code != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {code}")
    return _times("process-start", label, times_ms)


def _baselines(bench: Bench, runtimes: Sequence[str]) -> list[Measurement]:
    count = bench.profile.cold_starts
    python = sys.executable
    found = [
        _process_starts(bench, "python, bare", [python, "-c", "pass"], count),
        _process_starts(
            bench, "python + awslambdaric", [python, "-c", "import awslambdaric.bootstrap"], count
        ),
    ]
    if "node" in runtimes:
        node = shutil.which("node") or "node"
        found.append(_process_starts(bench, "node, bare", [node, "-e", "0"], count))
    return found


def _pss_kb(pid: int) -> int:
    """Proportional resident memory: shared pages divided among the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _worker_memory(server: Server, label: str) -> Measurement | None:
    """RSS (and PSS) per idle warm worker of the ``echo`` function."""
    pids = workers_of(server)
    if not pids:
        return None
    rss = [rss_kb([pid]) for pid in pids]
    pss = [_pss_kb(pid) for pid in pids]
    return Measurement(
        scenario="worker-memory",
        server=label,
        conns=len(pids),
        value=statistics.mean(rss) / 1024,
        unit="MiB/worker",
        extra={
            "workers": len(pids),
            "rss_mib": [round(kb / 1024, 1) for kb in rss],
            "pss_mib_mean": round(statistics.mean(pss) / 1024, 1),
            "gateway_rss_mib": round(rss_kb([server.pid]) / 1024, 1),
        },
    )


def run_functions(bench: Bench) -> None:
    """The round trips, cold starts and idle memory of functions in worker processes."""
    runtimes = ["python"]
    missing = node_missing()
    if missing is None:
        runtimes.append("node")
    else:
        bench.say(f"  functions: no Node.js workers ({missing})")
    servers: dict[str, Server] = {IN_PROCESS: bench.wsgate("echo-sync.yaml")}
    for runtime in runtimes:
        servers[FUNCTION_LABELS[runtime]] = function_server(bench, runtime)
    with bench.running(*servers.values()):
        _round_trips(bench, servers)
        time.sleep(1.0)  # the workers go idle
        for runtime in runtimes:
            label = FUNCTION_LABELS[runtime]
            memory = _worker_memory(servers[label], label)
            if memory is not None:
                bench.results.append(memory)
                bench.say(
                    f"  worker-memory {label:<13} {memory.value:>6.1f} MiB RSS per idle worker "
                    f"(PSS {memory.extra['pss_mib_mean']:.1f}, {memory.extra['workers']} workers)"
                )
        for runtime in runtimes:
            label = FUNCTION_LABELS[runtime]
            m = _cold_starts(bench, servers[label], label)
            bench.results.append(m)
            bench.say(
                f"  cold-start  {label:<15} p50 {m.value:>6.1f} ms  "
                f"max {(m.max_us or 0) / 1000:>6.1f} ms  ({m.conns} new workers)"
            )
    for m in _baselines(bench, runtimes):
        bench.results.append(m)
        bench.say(
            f"  process-start {m.server:<21} p50 {m.value:>6.1f} ms  "
            f"max {(m.max_us or 0) / 1000:>6.1f} ms"
        )

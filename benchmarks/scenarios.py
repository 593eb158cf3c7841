"""The scenarios: each wsgate figure is measured beside the raw aiohttp baseline, same run.

Every scenario starts its servers (``wsgate serve`` with a config from ``configs/``, and
``raw_server.py``), runs the load generator against each in turn, and stops them. Servers
that are compared run at the same time and are measured alternately, so that a drift of
the machine during the run touches both sides alike.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.procs import (
    HERE,
    Group,
    LoadResult,
    Pinning,
    Server,
    free_port,
    python_bin,
    run_loadgen,
)


__all__ = ["Measurement", "Profile", "PROFILES", "Bench"]

STAGE = "bench"
TOKEN_QUERY = "?token=bench&user=bench"
LIFE_FAILURES = ("bad_replies", "missing_close", "stalled")
"""The life mode's own failures: a wrong reply, no close frame from the server, a life that
hung (the generator's JSON keys)."""


@dataclass(frozen=True)
class Profile:
    """How long and how wide a run is."""

    name: str
    warmup: float
    duration: float
    repeats: int
    echo_conns: tuple[int, ...]
    handshake_conns: int
    life_conns: int
    """Connection lives in flight at once (each worker starts the next when one ends)."""
    idle_conns: tuple[int, ...]
    post_receivers: int
    post_posters: int
    fanout_conns: tuple[int, ...]
    fanout_rounds: int
    max_done: int = 0
    """End each window after this many results (0: run the whole window)."""
    compare_duration: float = 10.0
    compare_warmup: float = 5.0
    """serverless-offline starts a Python process per busy function instance on first use."""
    function_conns: tuple[int, ...] = (1, 10)
    """Connections of the round trips through functions in worker processes."""
    cold_starts: int = 10
    """New workers timed, one after another, per runtime."""


PROFILES = {
    "quick": Profile(
        name="quick",
        warmup=0.5,
        duration=2.0,
        repeats=3,
        echo_conns=(1, 10, 100, 1000),
        handshake_conns=32,
        life_conns=32,
        idle_conns=(10_000, 50_000),
        post_receivers=10,
        post_posters=32,
        fanout_conns=(1_000, 10_000),
        fanout_rounds=3,
        compare_duration=5.0,
    ),
    "full": Profile(
        name="full",
        warmup=1.0,
        duration=8.0,
        repeats=3,
        echo_conns=(1, 10, 100, 1000, 5000),
        handshake_conns=32,
        life_conns=32,
        idle_conns=(10_000, 50_000),
        post_receivers=10,
        post_posters=32,
        fanout_conns=(1_000, 10_000),
        fanout_rounds=5,
        compare_duration=10.0,
        cold_starts=20,
    ),
    "smoke": Profile(
        name="smoke",
        warmup=0.1,
        duration=2.0,
        repeats=1,
        echo_conns=(1, 10),
        handshake_conns=4,
        life_conns=4,
        idle_conns=(200,),
        post_receivers=2,
        post_posters=4,
        fanout_conns=(50,),
        fanout_rounds=1,
        max_done=300,
        compare_duration=2.0,
        compare_warmup=0.5,
        function_conns=(10,),
        cold_starts=2,
    ),
}


@dataclass
class Measurement:
    """One figure: a scenario on one server at one connection count."""

    scenario: str
    server: str
    conns: int
    value: float
    unit: str
    p50_us: float | None = None
    p99_us: float | None = None
    max_us: float | None = None
    server_cpu: float | None = None
    client_cpu: float | None = None
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _median(runs: list[Measurement]) -> Measurement:
    """The run with the median value (an actual run, so its latencies belong to it)."""
    ordered = sorted(runs, key=lambda m: m.value)
    chosen = ordered[(len(ordered) - 1) // 2]
    if len(runs) > 1:
        chosen.extra["runs"] = [round(m.value, 1) for m in runs]
    return chosen


def _errors(data: dict[str, Any]) -> int:
    failures = ("errors", "connect_errors", "upgrade_errors", "closed_early", *LIFE_FAILURES)
    return int(sum(data[key] for key in failures))


def _measurement(
    scenario: str, server: str, result: LoadResult, unit: str, **extra: Any
) -> Measurement:
    data = result.data
    return Measurement(
        scenario=scenario,
        server=server,
        conns=int(data["conns"]),
        value=float(data["rate"]),
        unit=unit,
        p50_us=data["p50_us"],
        p99_us=data["p99_us"],
        max_us=data["max_us"],
        server_cpu=result.server_cpu,
        client_cpu=result.client_cpu,
        errors=_errors(data),
        extra={"done": data["done"], **extra},
    )


def _post_measurement(scenario: str, server: str, result: LoadResult) -> Measurement:
    """POSTs/s, with the latency from each POST to its frame at the receiver kept too."""
    data = result.data
    return _measurement(
        scenario,
        server,
        result,
        "posts/s",
        frame_p50_us=data["frame_p50_us"],
        frame_p99_us=data["frame_p99_us"],
        frame_max_us=data["frame_max_us"],
    )


class Bench:
    """Runs scenarios with one load generator binary and one pinning; collects figures."""

    def __init__(
        self, loadgen: Path, pinning: Pinning, profile: Profile, log: IO[str], file_limit: int
    ) -> None:
        self.loadgen = loadgen
        self.pinning = pinning
        self.profile = profile
        self.results: list[Measurement] = []
        self._log = log
        self.file_limit = file_limit
        """Open files a process may have: one server process holds every connection."""

    def most_connections(self, wanted: int) -> int:
        """``wanted``, or as many as one process may hold under the open-file limit."""
        most = self.file_limit - 500
        if wanted > most:
            self.say(
                f"  {wanted:,} connections need an open-file limit above {wanted + 500:,} "
                f"(ulimit -Hn); this one is {self.file_limit:,}: measuring {most:,}"
            )
            return most
        return wanted

    def say(self, text: str) -> None:
        print(text, file=self._log, flush=True)

    # --- servers ---------------------------------------------------------------------

    def raw(self, *, routes: bool = False, authorize: bool = False) -> Server:
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.raw_server", "--port", str(port)]
        argv += ["--stage", STAGE] + (["--routes"] if routes else [])
        argv += ["--authorize"] if authorize else []
        return Server("raw", argv, port, self.pinning, cwd=HERE.parent)

    def bare(self) -> Server:
        """wsgate's own wire layer with no gateway logic: the ceiling of what it runs on."""
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.bare_server", "--port", str(port)]
        return Server("bare", argv, port, self.pinning, cwd=HERE.parent)

    def wsgate(self, config: str, **env: str) -> Server:
        port = free_port()
        argv = [python_bin("wsgate"), "serve", "--config", str(HERE / "configs" / config)]
        argv += ["--log-level", "WARNING"]
        return Server(
            f"wsgate-{config.removesuffix('.yaml')}",
            argv,
            port,
            self.pinning,
            env={"BENCH_PORT": str(port), **env},
        )

    def redis(self) -> Server | None:
        """A Redis of the run's own on the server core, keeping nothing; None without
        ``redis-server``."""
        program = shutil.which("redis-server")
        if program is None:
            return None
        port = free_port()
        argv = [program, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        return Server("redis", [*argv, "--appendonly", "no"], port, self.pinning)

    @contextmanager
    def running(self, *servers: Server) -> Iterator[tuple[Server, ...]]:
        with ExitStack() as stack:
            for server in servers:
                stack.enter_context(server)
            yield servers

    def load(
        self,
        server: Server,
        *args: str,
        duration: float | None = None,
        warmup: float | None = None,
    ) -> LoadResult:
        """Run the generator against ``server`` for the profile's warm-up and window."""
        profile = self.profile
        seconds = duration or profile.duration
        warm = profile.warmup if warmup is None else warmup
        window = ["--warmup", str(warm), "--duration", str(seconds)]
        if profile.max_done:
            window += ["--max-done", str(profile.max_done)]
        return run_loadgen(
            self.loadgen,
            ["--port", str(server.port), *window, *args],
            server,
            self.pinning,
            timeout=warm + seconds + 120,
        )

    # --- scenarios -------------------------------------------------------------------

    def round_trips(self) -> None:
        """Two-way route, async and def handlers, beside the raw echo, by connections."""
        servers = (
            self.raw(),
            self.bare(),
            self.wsgate("echo-async.yaml"),
            self.wsgate("echo-sync.yaml"),
        )
        labels = ("raw", "bare", "wsgate", "wsgate")
        scenarios = ("echo", "echo-bare", "echo-async", "echo-sync")
        with self.running(*servers):
            for conns in self.profile.echo_conns:
                runs: dict[str, list[Measurement]] = {s: [] for s in scenarios}
                for _ in range(self.profile.repeats):
                    for server, label, scenario in zip(servers, labels, scenarios, strict=True):
                        result = self.load(
                            server,
                            "--mode",
                            "echo",
                            "--conns",
                            str(conns),
                            "--path",
                            f"/{STAGE}",
                            "--sources",
                            str(1 + conns // 20000),
                        )
                        runs[scenario].append(_measurement(scenario, label, result, "msgs/s"))
                        time.sleep(0.3)
                for scenario in scenarios:
                    m = _median(runs[scenario])
                    self.results.append(m)
                    self.say(
                        f"  {scenario:<11} {m.server:<7} {conns:>6} conns "
                        f"{m.value:>10,.0f} msgs/s  p99 {m.p99_us or 0:>9,.0f} us"
                    )

    def handshakes(self) -> None:
        """Upgrades per second: authorizer + $connect versus a raw upgrade."""
        conns = str(self.profile.handshake_conns)
        servers = (self.raw(), self.bare(), self.wsgate("handshake.yaml"))
        scenarios = ("upgrade", "upgrade-bare", "handshake-auth")
        with self.running(*servers):
            runs: dict[str, list[Measurement]] = {s: [] for s in scenarios}
            for _ in range(self.profile.repeats):
                for server, scenario in zip(servers, scenarios, strict=True):
                    label = server.name if server.name in ("raw", "bare") else "wsgate"
                    result = self.load(
                        server,
                        "--mode",
                        "handshake",
                        "--conns",
                        conns,
                        "--path",
                        f"/{STAGE}{TOKEN_QUERY}",
                        "--sources",
                        "8",
                    )
                    runs[scenario].append(_measurement(scenario, label, result, "handshakes/s"))
                    time.sleep(0.5)
            for scenario in scenarios:
                m = _median(runs[scenario])
                self.results.append(m)
                self.say(f"  {scenario:<15} {m.server:<7} {m.value:>10,.0f} handshakes/s")

    def lives(self) -> None:
        """Whole connection lives per second: connect, upgrade through the authorizer and
        $connect, one two-way message, the close handshake; async and def handlers beside
        the raw aiohttp server doing the same checks and the bare wire layer."""
        servers = (
            self.raw(authorize=True),
            self.bare(),
            self.wsgate("life-async.yaml"),
            self.wsgate("life-sync.yaml"),
        )
        labels = ("raw", "bare", "wsgate", "wsgate")
        scenarios = ("life", "life-bare", "life-async", "life-sync")
        with self.running(*servers):
            runs: dict[str, list[Measurement]] = {s: [] for s in scenarios}
            for _ in range(self.profile.repeats):
                for server, label, scenario in zip(servers, labels, scenarios, strict=True):
                    result = self._life(server)
                    # Which failures, when there are any: the table shows only their sum.
                    kinds = {key: result.data[key] for key in LIFE_FAILURES}
                    m = _measurement(scenario, label, result, "lives/s", **kinds)
                    runs[scenario].append(m)
                    time.sleep(0.5)
            for scenario in scenarios:
                m = _median(runs[scenario])
                self.results.append(m)
                self.say(
                    f"  {scenario:<11} {m.server:<7} {m.value:>10,.0f} lives/s  "
                    f"p99 {m.p99_us or 0:>9,.0f} us  failures {m.errors}"
                )

    def _life(self, server: Server) -> LoadResult:
        return self.load(
            server,
            *("--mode", "life", "--conns", str(self.profile.life_conns)),
            *("--path", f"/{STAGE}{TOKEN_QUERY}"),
            # Every life takes a new ephemeral port: spread them over source addresses as
            # the handshake scenario does.
            *("--sources", "8"),
        )

    def idle_memory(self) -> None:
        """RSS per open idle connection, each count on fresh servers."""
        for conns in self.profile.idle_conns:
            for server in (self.raw(), self.wsgate("echo-async.yaml")):
                with server:
                    self._idle(server, conns)

    def _idle(self, server: Server, wanted: int) -> None:
        conns = self.most_connections(wanted)
        # Warm the server first: imports and pools that appear on first use are not
        # per-connection memory.
        self.load(
            server,
            "--mode",
            "echo",
            "--conns",
            "10",
            "--path",
            f"/{STAGE}",
            "--warmup",
            "0",
            "--duration",
            "0.3",
        )
        time.sleep(1.0)
        before = server.rss_kb()
        seen: dict[str, int] = {}

        def measure(_stdin: IO[str]) -> None:
            time.sleep(1.0 if self.profile.name != "smoke" else 0.2)
            seen["rss"] = server.rss_kb()

        result = run_loadgen(
            self.loadgen,
            [
                "--port",
                str(server.port),
                "--mode",
                "idle",
                "--conns",
                str(conns),
                "--path",
                f"/{STAGE}",
                "--sources",
                str(1 + conns // 20000),
                "--opening",
                "64",
                "--hold",
                "600",
                "--connect-timeout",
                "300",
            ],
            server,
            self.pinning,
            timeout=900,
            on_ready=measure,
        )
        opened = int(result.data["opened"])
        after = seen.get("rss", before)
        per_conn = (after - before) / opened if opened else 0.0
        label = "raw" if server.name == "raw" else "wsgate"
        m = Measurement(
            scenario="idle-memory",
            server=label,
            conns=conns,
            value=per_conn,
            unit="KiB/conn",
            errors=_errors(result.data) + (conns - opened),
            extra={
                "rss_before_kb": before,
                "rss_after_kb": after,
                "opened": opened,
                "requested": wanted,
            },
        )
        self.results.append(m)
        self.say(
            f"  idle-memory {label:<7} {conns:>6} conns {per_conn:>7.1f} KiB/conn "
            f"(RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB)"
        )

    def management(self) -> None:
        """POST @connections throughput and post-to-frame latency; then the fan-out."""
        profile = self.profile
        servers = (self.raw(routes=True), self.wsgate("manage.yaml"))
        with self.running(*servers):
            runs: dict[str, list[Measurement]] = {"raw": [], "wsgate": []}
            for _ in range(profile.repeats):
                for server in servers:
                    label = "raw" if server.name == "raw" else "wsgate"
                    result = self.load(
                        server,
                        "--mode",
                        "post",
                        "--path",
                        f"/{STAGE}",
                        "--receivers",
                        str(profile.post_receivers),
                        "--posters",
                        str(profile.post_posters),
                        "--post-prefix",
                        f"/{STAGE}/@connections/",
                    )
                    runs[label].append(_post_measurement("post", label, result))
                    time.sleep(0.5)
            for label in ("raw", "wsgate"):
                m = _median(runs[label])
                m.conns = profile.post_posters
                self.results.append(m)
                self.say(
                    f"  post        {label:<7} {m.value:>10,.0f} posts/s  "
                    f"post-to-frame p50 {m.extra['frame_p50_us']:,.0f} us"
                )
            for conns in profile.fanout_conns:
                for server in servers:
                    self._fanout(server, conns)
                    time.sleep(1.0)
        self._post_across_nodes()

    def _post_across_nodes(self) -> None:
        """POSTs to one node for connections on another: two wsgate processes on one
        Redis (all three on the server core); each POST crosses the node link to the owner
        and its reply comes back the same way."""
        profile = self.profile
        redis = self.redis()
        if redis is None:
            self.say("  post-redis: no redis-server on PATH; not measured")
            return
        with redis:
            env = {"BENCH_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
            nodes = tuple(self.wsgate("manage-redis.yaml", **env) for _ in range(2))
            with self.running(*nodes):
                runs = []
                for _ in range(profile.repeats):
                    window = ["--warmup", str(profile.warmup), "--duration", str(profile.duration)]
                    if profile.max_done:
                        window += ["--max-done", str(profile.max_done)]
                    result = run_loadgen(
                        self.loadgen,
                        [
                            *("--port", str(nodes[0].port), "--post-port", str(nodes[1].port)),
                            *window,
                            *("--mode", "post", "--path", f"/{STAGE}"),
                            *("--receivers", str(profile.post_receivers)),
                            *("--posters", str(profile.post_posters)),
                            *("--post-prefix", f"/{STAGE}/@connections/"),
                        ],
                        Group((redis, *nodes)),
                        self.pinning,
                        timeout=profile.warmup + profile.duration + 120,
                    )
                    runs.append(_post_measurement("post-redis", "2 nodes+redis", result))
                    time.sleep(0.5)
        m = _median(runs)
        m.conns = profile.post_posters
        self.results.append(m)
        self.say(
            f"  post-redis  {m.value:>10,.0f} posts/s  "
            f"post-to-frame p50 {m.extra['frame_p50_us']:,.0f} us"
        )

    def workers(self) -> None:
        """``wsgate serve --workers``: handshakes (authorizer + $connect) and round trips
        through a two-way route with 1 and 2 gateway processes on one Redis, beside one
        process on the memory registry (the default).

        Not pinned: the servers, their Redis and the load generator may use every core,
        since a second worker needs one; all sides are measured in turn on the same terms.
        """
        redis = self.redis()
        if redis is None:
            self.say("  workers: no redis-server on PATH; not measured")
            return
        every = ",".join(str(core) for core in range(os.cpu_count() or 1))
        free = Pinning(every, every)
        redis.pinning = free
        with redis:
            servers = (
                self._workers_server("handshake.yaml", 1, free, {}),
                self._workers_server("workers-redis.yaml", 1, free, self._redis_env(redis, "one")),
                self._workers_server("workers-redis.yaml", 2, free, self._redis_env(redis, "two")),
            )
            labels = ("1 process, memory", "1 worker, redis", "2 workers, redis")
            modes = (
                ("workers-handshake", "handshakes/s", self._handshake_args()),
                ("workers-echo", "msgs/s", self._echo_args(100)),
            )
            with self.running(*servers):
                for scenario, unit, args in modes:
                    runs: dict[str, list[Measurement]] = {label: [] for label in labels}
                    for _ in range(self.profile.repeats):
                        for server, label in zip(servers, labels, strict=True):
                            result = self._load_with(server, free, args, group=(server, redis))
                            runs[label].append(_measurement(scenario, label, result, unit))
                            time.sleep(0.5)
                    for label in labels:
                        m = _median(runs[label])
                        self.results.append(m)
                        self.say(
                            f"  {scenario:<17} {label:<17} {m.value:>10,.0f} {unit}  "
                            f"server CPU {100 * (m.server_cpu or 0):.0f}%"
                        )

    def reload(self) -> None:
        """Round trips through a function in worker processes, served with hot reload
        (``--reload``: its config and code folder watched) beside the same without."""
        servers = tuple(self._function_server(flag) for flag in ("--no-reload", "--reload"))
        labels = ("no reload", "reload")
        conns = "32"
        with self.running(*servers):
            runs: dict[str, list[Measurement]] = {label: [] for label in labels}
            for _ in range(self.profile.repeats):
                for server, label in zip(servers, labels, strict=True):
                    result = self.load(
                        server, "--mode", "echo", "--conns", conns, "--path", "/bench"
                    )
                    runs[label].append(_measurement("function-echo", label, result, "msgs/s"))
                    time.sleep(0.5)
            for label in labels:
                m = _median(runs[label])
                self.results.append(m)
                self.say(
                    f"  function-echo {label:<10} {conns} conns {m.value:>10,.0f} msgs/s  "
                    f"p99 {m.p99_us or 0:>9,.0f} us  server CPU {100 * (m.server_cpu or 0):.0f}%"
                )

    def _function_server(self, flag: str) -> Server:
        port = free_port()
        config = str(HERE / "configs" / "function-echo.yaml")
        argv = [python_bin("wsgate"), "serve", "--config", config, "--log-level", "WARNING"]
        return Server(
            f"wsgate-function-echo{flag.removeprefix('-').removeprefix('-no')}",
            [*argv, flag],
            port,
            self.pinning,
            env={"BENCH_PORT": str(port)},
            tree=True,  # the function's workers are the server's children
        )

    def _workers_server(
        self, config: str, count: int, pinning: Pinning, env: dict[str, str]
    ) -> Server:
        port = free_port()
        argv = [python_bin("wsgate"), "serve", "--config", str(HERE / "configs" / config)]
        argv += ["--log-level", "WARNING", "--workers", str(count)]
        return Server(
            f"wsgate-workers-{count}-{config.removesuffix('.yaml')}",
            argv,
            port,
            pinning,
            env={"BENCH_PORT": str(port), **env},
            tree=True,  # the supervisor's workers are its children
        )

    @staticmethod
    def _redis_env(redis: Server, prefix: str) -> dict[str, str]:
        return {
            "BENCH_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "BENCH_REDIS_PREFIX": f"bench-{prefix}",
        }

    @staticmethod
    def _handshake_args() -> list[str]:
        return [
            *("--mode", "handshake", "--conns", "32"),
            *("--path", f"/{STAGE}{TOKEN_QUERY}", "--sources", "8"),
        ]

    @staticmethod
    def _echo_args(conns: int) -> list[str]:
        return ["--mode", "echo", "--conns", str(conns), "--path", f"/{STAGE}{TOKEN_QUERY}"]

    def _load_with(
        self, server: Server, pinning: Pinning, args: list[str], group: tuple[Server, ...]
    ) -> LoadResult:
        """``load`` with a pinning of its own; CPU counted over ``group`` (server + Redis)."""
        profile = self.profile
        window = ["--warmup", str(profile.warmup), "--duration", str(profile.duration)]
        if profile.max_done:
            window += ["--max-done", str(profile.max_done)]
        return run_loadgen(
            self.loadgen,
            ["--port", str(server.port), *window, *args],
            Group(group),
            pinning,
            timeout=profile.warmup + profile.duration + 120,
        )

    def _fanout(self, server: Server, wanted: int) -> None:
        conns = self.most_connections(wanted)
        label = "raw" if server.name == "raw" else "wsgate"
        result = run_loadgen(
            self.loadgen,
            [
                "--port",
                str(server.port),
                "--mode",
                "fanout",
                "--conns",
                str(conns),
                "--path",
                f"/{STAGE}",
                "--sources",
                str(1 + conns // 20000),
                "--rounds",
                str(self.profile.fanout_rounds),
                "--round-timeout",
                "120",
                "--connect-timeout",
                "300",
            ],
            server,
            self.pinning,
            timeout=900,
        )
        rounds = [float(r) for r in result.data.get("rounds_ms", [])]
        value = statistics.median(rounds) if rounds else float("nan")
        m = Measurement(
            scenario="fanout",
            server=label,
            conns=conns,
            value=value,
            unit="ms to last frame",
            server_cpu=result.server_cpu,
            client_cpu=result.client_cpu,
            errors=_errors(result.data) + int(result.data.get("missing", 0)),
            extra={"rounds_ms": rounds},
        )
        self.results.append(m)
        self.say(f"  fanout      {label:<7} {conns:>6} conns {value:>9,.1f} ms to the last frame")

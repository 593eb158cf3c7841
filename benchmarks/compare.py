"""wsgate beside serverless-offline, both running the same Python handlers.

serverless 3.40.0 and serverless-offline 13.10.1 (the last line that runs on serverless 3;
serverless-offline 14 needs serverless 4) work on Node 18 and 20. They are installed with
npm into ``benchmarks/.work/sls/`` on first use. serverless-offline runs each Python
function in a long-lived ``python3 invoke.py`` child per concurrent instance (it finds the
venv's ``python3`` through ``VIRTUAL_ENV``), talking JSON over stdin/stdout.

Both sides run ``benchmarks/apps/handlers.py``'s ``def`` handlers (serverless-offline cannot
await an ``async def``): ``authorize_sync`` + ``connect_sync`` on ``$connect``, the two-way
``echo_sync`` route, and ``post_back``, which answers with boto3's ``post_to_connection``.
wsgate runs them in its thread pool, as it runs any plain function.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from benchmarks.functions import FUNCTION_LABELS, function_server, node_missing
from benchmarks.procs import HERE, WORK, Server, free_port, python_bin, run_loadgen
from benchmarks.report import Target
from benchmarks.scenarios import STAGE, TOKEN_QUERY, Bench, Measurement, _measurement, _median


__all__ = ["run_comparison"]

SLS = WORK / "sls"
SOURCE = HERE / "serverless"
CONNS = 10
"""Connections in the round-trip and handshake runs: serverless-offline starts a Python
process per concurrently busy function instance, so more only adds processes."""
IDLE_CONNS = 100


def _install() -> str:
    """npm-install serverless and serverless-offline into .work/sls; return their versions."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("Node and npm are needed for the serverless-offline comparison")
    SLS.mkdir(parents=True, exist_ok=True)
    manifest = SLS / "package.json"
    installed = SLS / "node_modules" / "serverless-offline" / "package.json"
    if not installed.exists() or not filecmp.cmp(SOURCE / "package.json", manifest, False):
        shutil.copy(SOURCE / "package.json", manifest)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=SLS,
            check=True,
            timeout=900,
        )
    shutil.copy(SOURCE / "serverless.yml", SLS / "serverless.yml")
    apps = SLS / "apps"
    if not apps.is_symlink():
        if apps.exists():
            shutil.rmtree(apps)
        apps.symlink_to(HERE / "apps", target_is_directory=True)
    versions = []
    for package in ("serverless", "serverless-offline"):
        text = (SLS / "node_modules" / package / "package.json").read_text()
        version = text.split('"version":', 1)[1].split('"')[1]
        versions.append(f"{package} {version}")
    return ", ".join(versions)


def _offline(bench: Bench) -> Server:
    port, http_port, lambda_port = free_port(), free_port(), free_port()
    env = {
        "BENCH_WS_PORT": str(port),
        "BENCH_HTTP_PORT": str(http_port),
        "BENCH_LAMBDA_PORT": str(lambda_port),
        "BENCH_MANAGEMENT_URL": f"http://127.0.0.1:{port}",
        # serverless-offline puts $VIRTUAL_ENV/bin first on PATH for python3.
        "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV") or str(HERE.parent / ".venv"),
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    argv = ["node", str(SLS / "node_modules" / "serverless" / "bin" / "serverless.js"), "offline"]
    return Server(
        "serverless-offline",
        argv,
        port,
        bench.pinning,
        env=env,
        cwd=SLS,
        tree=True,
        ready_path="/",
        start_timeout=120,
    )


def _round_trips(bench: Bench, server: Server, label: str, action: str) -> Measurement:
    """Round trips through the route ``action``; the workers' processes count in the
    server's CPU and memory."""
    result = bench.load(
        server,
        "--mode",
        "echo",
        "--action",
        action,
        "--conns",
        str(CONNS),
        "--path",
        TOKEN_QUERY.replace("?", "/?")
        if label == "serverless-offline"
        else f"/{STAGE}{TOKEN_QUERY}",
        duration=bench.profile.compare_duration,
        warmup=bench.profile.compare_warmup,
    )
    scenario = "sls-echo" if action == "echo" else "sls-postback"
    return _measurement(scenario, label, result, "msgs/s", rss_kb=result.server_rss_kb)


def _handshakes(bench: Bench, server: Server, label: str) -> Measurement:
    offline = label == "serverless-offline"
    path = TOKEN_QUERY.replace("?", "/?") if offline else f"/{STAGE}{TOKEN_QUERY}"
    result = bench.load(
        server,
        "--mode",
        "handshake",
        "--conns",
        str(CONNS),
        "--path",
        path,
        "--sources",
        "8",
        duration=bench.profile.compare_duration,
        warmup=bench.profile.compare_warmup,
    )
    scenario = "sls-upgrade" if label == "raw" else "sls-handshake"
    return _measurement(scenario, label, result, "handshakes/s")


def _memory(bench: Bench, server: Server, label: str) -> Measurement:
    """Resident memory of the whole process tree with IDLE_CONNS connections open."""
    path = f"/{STAGE}{TOKEN_QUERY}" if label == "wsgate" else TOKEN_QUERY.replace("?", "/?")
    seen: dict[str, int] = {}

    def measure(_stdin: object) -> None:
        time.sleep(1.0)
        seen["rss"] = server.rss_kb()
        seen["processes"] = len(server.pids())

    result = run_loadgen(
        bench.loadgen,
        ["--port", str(server.port), "--mode", "idle", "--conns", str(IDLE_CONNS)]
        + ["--path", path, "--opening", "10", "--hold", "120", "--connect-timeout", "60"],
        server,
        bench.pinning,
        timeout=300,
        on_ready=measure,
    )
    return Measurement(
        scenario="sls-memory",
        server=label,
        conns=int(result.data["opened"]),
        value=seen.get("rss", 0) / 1024,
        unit="MiB",
        errors=IDLE_CONNS - int(result.data["opened"]),
        extra={"processes": seen.get("processes", 0)},
    )


def _botocore_alone(bench: Bench) -> Measurement:
    """botocore's own rate of ``post_to_connection`` calls on the server's core, every
    call answered by a canned 200 (``benchmarks/botocore_floor.py``): the most boto3 round
    trips any server could carry there, if it cost nothing itself."""
    argv = bench.pinning.wrap(
        [python_bin("python"), "-m", "benchmarks.botocore_floor"], bench.pinning.server
    )
    out = subprocess.run(
        argv, cwd=HERE.parent, capture_output=True, text=True, check=True, timeout=300
    )
    figures = json.loads(out.stdout)
    return Measurement(
        scenario="sls-botocore",
        server="botocore alone",
        conns=1,
        value=figures["calls_per_s"],
        unit="calls/s",
        extra={"us_per_call": figures["us_per_call"]},
    )


@contextmanager
def _alone(server: Server | None, servers: Sequence[Server]) -> Iterator[None]:
    """Stop every server but ``server`` (all of them for None) for the duration."""
    others = [other for other in servers if other is not server]
    for other in others:
        other.pause()
    try:
        yield
    finally:
        for other in others:
            other.resume()


STALLED_CPU = 0.5
"""Below this share of its core, a serverless-offline figure under load is not a rate it
can reach but a wait: its Python runner ends when a handler raises, and the calls sent to
it next wait out the Lambda timeout (6 s) with the core idle. A ratio against such a
figure would flatter wsgate, so it is not judged."""


def stalled(baseline: Measurement) -> bool:
    """Whether a serverless-offline rate was measured with its core mostly idle."""
    return (
        baseline.unit != "MiB"
        and baseline.server_cpu is not None
        and baseline.server_cpu < STALLED_CPU
    )


def _label(server: Server, raw: Server, functions: dict[str, Server]) -> str:
    if server is raw:
        return "raw"
    for label, function in functions.items():
        if server is function:
            return label
    return "wsgate" if server.name.startswith("wsgate") else "serverless-offline"


def run_comparison(bench: Bench, machine: dict[str, object]) -> list[Target]:
    """Measure both sides (alternating), add the figures to ``bench``, return the ratios."""
    machine["serverless"] = _install()
    machine["node"] = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    figures: dict[str, dict[str, Measurement]] = {"wsgate": {}, "serverless-offline": {}}
    # The raw aiohttp upgrade, with no handler at all, is the ceiling for wsgate's handshakes.
    raw = bench.raw()
    ceiling: Measurement | None = None
    # The same two-way route served by functions in worker processes (round trips only).
    runtimes = ["python"] + (["node"] if node_missing() is None else [])
    functions = {FUNCTION_LABELS[r]: function_server(bench, r) for r in runtimes}
    for label in functions:
        figures[label] = {}
    with bench.running(
        bench.wsgate("compare.yaml"), _offline(bench), raw, *functions.values()
    ) as servers:
        # Every server is pinned to the same core. Each is measured alone, the others
        # stopped (SIGSTOP), and each figure is the median of the profile's repeats, so that
        # one side's start-up or leftover work (serverless-offline's Node process and
        # Python workers) can neither slow the other nor decide a ratio alone. A first
        # round of each step is not counted: serverless-offline starts its Python
        # processes for a function on its first calls (seconds on one core, longer than
        # the warm-up), and its first round ran at a fifth of its later rate.
        for step in ("echo", "postback", "handshake"):
            runs: dict[str, list[Measurement]] = {}
            for round_number in range(bench.profile.repeats + 1):
                for server in servers:
                    label = _label(server, raw, functions)
                    if server is raw and step != "handshake":
                        continue
                    if label in functions and step != "echo":
                        continue
                    with _alone(server, servers):
                        if server is raw:
                            m = _handshakes(bench, raw, "raw")
                        elif step == "handshake":
                            m = _handshakes(bench, server, label)
                        else:
                            m = _round_trips(bench, server, label, step)
                    if round_number > 0:
                        runs.setdefault(label, []).append(m)
                    time.sleep(1.0)
            for label, measured in runs.items():
                m = _median(measured)
                bench.results.append(m)
                bench.say(f"  {m.scenario:<13} {label:<18} {m.value:>10,.1f} {m.unit}")
                if label == "raw":
                    ceiling = m
                else:
                    figures[label][step] = m
        with _alone(None, servers):
            floors = [_botocore_alone(bench) for _ in range(bench.profile.repeats)]
        floor = _median(floors)
        bench.results.append(floor)
        bench.say(f"  {floor.scenario:<13} {floor.server:<18} {floor.value:>10,.1f} {floor.unit}")
        for server in servers:
            if server is not raw and server not in functions.values():
                label = _label(server, raw, functions)
                m = _memory(bench, server, label)
                figures[label]["memory"] = m
                bench.results.append(m)
                bench.say(f"  {m.scenario:<13} {label:<18} {m.value:>10,.1f} {m.unit}")
    return comparison_targets(figures, floor, ceiling)


def comparison_targets(
    figures: dict[str, dict[str, Measurement]],
    floor: Measurement,
    ceiling: Measurement | None,
) -> list[Target]:
    """The comparison's targets from its medians: ``figures`` by server label (``wsgate``,
    ``serverless-offline``, and each worker label of ``FUNCTION_LABELS``) then by step."""
    ours, theirs = figures["wsgate"], figures["serverless-offline"]
    functions = [label for label in figures if label in FUNCTION_LABELS.values()]

    def ratio(step: str, side: str = "wsgate") -> float | None:
        baseline = theirs[step]
        if stalled(baseline) or not baseline.value:
            return None
        return figures[side][step].value / baseline.value

    def stall_note(step: str) -> str:
        baseline = theirs[step]
        if not stalled(baseline):
            return ""
        busy = 100 * (baseline.server_cpu or 0.0)
        return f"; not judged: serverless-offline stalled ({busy:.0f}% of its core busy)"

    def detail(step: str) -> str:
        unit = ours[step].unit
        text = f"wsgate {ours[step].value:,.1f} vs {theirs[step].value:,.1f} {unit}"
        return text + stall_note(step)

    worker_targets = [
        Target(
            f"vs serverless-offline: two-way route by a {label} process, round trips/s",
            ratio("echo", label),
            5,
            "min-ratio",
            detail=f"{label} {figures[label]['echo'].value:,.1f} vs "
            f"{theirs['echo'].value:,.1f} msgs/s; in-process def {ours['echo'].value:,.1f}"
            + stall_note("echo"),
        )
        for label in functions
    ]
    return [
        Target(
            "vs serverless-offline: two-way route round trips/s",
            ratio("echo"),
            7,
            "min-ratio",
            detail=detail("echo"),
        ),
        *worker_targets,
        Target(
            "vs serverless-offline: boto3 post_to_connection round trips/s",
            ratio("postback"),
            20,
            "min-ratio",
            detail=f"{detail('postback')}; botocore alone {floor.value:,.0f} calls/s "
            f"({floor.value / theirs['postback'].value:.1f}x)"
            if theirs["postback"].value
            else detail("postback"),
        ),
        Target(
            "ceiling: boto3 round trips vs botocore's own calls/s, answer canned",
            ours["postback"].value / floor.value if floor.value else None,
            0,
            "info",
            detail=f"wsgate {ours['postback'].value:,.1f} vs {floor.value:,.1f}; botocore "
            f"{floor.extra['us_per_call']:.1f} us per call",
        ),
        Target(
            "vs serverless-offline: handshakes/s with authorizer",
            ratio("handshake"),
            5,
            "min-ratio",
            detail=f"{detail('handshake')}; raw aiohttp upgrade {ceiling.value:,.1f} "
            f"({ceiling.value / theirs['handshake'].value:.2f}x)"
            if ceiling is not None and theirs["handshake"].value
            else detail("handshake"),
        ),
        Target(
            f"vs serverless-offline: memory with {IDLE_CONNS} connections open",
            ratio("memory"),
            0.1,
            "max-ratio",
            detail=detail("memory"),
        ),
    ]

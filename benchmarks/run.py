"""Run the benchmarks and report: ``python -m benchmarks [--profile quick|full|smoke]``.

The table goes to stdout, progress to stderr, and JSON, Markdown and a PNG chart to
``benchmarks/results/`` (git-ignored). ``--compare`` adds the serverless-offline
comparison (needs Node and npm; installs into ``benchmarks/.work/``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from benchmarks.functions import run_functions
from benchmarks.procs import HERE, Pinning, build_loadgen, machine_info, raise_file_limit
from benchmarks.report import (
    check_generator,
    check_targets,
    render_machine,
    render_table,
    table_rows,
    target_rows,
    write_outputs,
)
from benchmarks.scenarios import PROFILES, Bench


__all__ = ["main"]

SCENARIOS = ("round-trips", "handshakes", "lives", "memory", "management", "functions")
EXTRA_SCENARIOS = ("workers", "reload")
"""Run only when named in ``--only``: ``workers`` needs redis-server and every core;
``reload`` measures a function's round trips with hot reload on and off."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {SCENARIOS + EXTRA_SCENARIOS}",
    )
    parser.add_argument(
        "--compare", action="store_true", help="also run the serverless-offline comparison"
    )
    parser.add_argument(
        "--compare-only", action="store_true", help="run only the serverless-offline comparison"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    profile = PROFILES[args.profile]
    only = [] if args.compare_only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS) - set(EXTRA_SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    pinning = Pinning.detect()
    if pinning.client is not None:
        # The runner only waits and reads lines; keep it off the server's core.
        os.sched_setaffinity(0, {int(c) for c in pinning.client.split(",")})
    files = raise_file_limit(2 * max(profile.idle_conns + profile.fanout_conns) + 10_000)
    loadgen = build_loadgen()
    machine = machine_info(pinning)
    machine["open_file_limit"] = files
    started = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    bench = Bench(loadgen, pinning, profile, sys.stderr, files)
    bench.say(f"wsgate benchmarks, profile {profile.name}\n{render_machine(machine)}")
    steps: dict[str, Callable[[], None]] = {
        "round-trips": bench.round_trips,
        "handshakes": bench.handshakes,
        "lives": bench.lives,
        "memory": bench.idle_memory,
        "management": bench.management,
        "workers": bench.workers,
        "reload": bench.reload,
        "functions": partial(run_functions, bench),
    }
    for name in only:
        bench.say(f"[{time.time() - started:5.0f}s] {name}")
        steps[name]()
    compare_targets = []
    if args.compare or args.compare_only:
        from benchmarks.compare import run_comparison

        bench.say(f"[{time.time() - started:5.0f}s] serverless-offline comparison")
        compare_targets = run_comparison(bench, machine)
    elapsed = time.time() - started
    targets = check_targets(bench.results) + check_generator(bench.results) if only else []
    settings = {
        "profile": profile.name,
        "warmup_s": profile.warmup,
        "duration_s": profile.duration,
        "repeats": profile.repeats,
        "message_bytes": 100,
        "scenarios": only,
        "compare": bool(args.compare or args.compare_only),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(elapsed, 1),
    }
    print(f"\nwsgate benchmarks ({profile.name}, {elapsed:.0f} s)\n{render_machine(machine)}\n")
    print(render_table(table_rows(bench.results)))
    if targets:
        print()
        print(render_table(target_rows(targets)))
    if compare_targets:
        print()
        print(render_table(target_rows(compare_targets)))
    written = write_outputs(
        args.out,
        stamp,
        machine,
        settings,
        bench.results,
        targets,
        compare_targets,
        chart=not args.no_chart,
    )
    print()
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0

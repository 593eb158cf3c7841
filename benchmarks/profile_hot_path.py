"""Profile wsgate's hot paths under the load generator, with py-spy.

``python -m benchmarks.profile_hot_path [--scenario echo|postback|handshake] [--conns N]
[--seconds 10] [--config FILE] [--gil]``

Starts ``wsgate serve`` on the server core and samples it with ``py-spy record`` (install
it ad hoc: ``pip install py-spy``; it is not a dependency) while the load generator runs:

* ``echo`` (the default): ``--conns`` connections (100) each keep one 100-byte message in
  flight through the two-way route (``echo-async.yaml``);
* ``postback``: 10 connections each keep one message in flight through a ``def`` handler
  that answers with boto3's ``post_to_connection`` (``compare.yaml``; best with ``--gil``);
* ``handshake``: ``--conns`` workers (32) each upgrade through the authorizer and
  ``$connect``, close, and start again, as the handshake scenario does (``handshake.yaml``;
  ``--config compare.yaml`` runs the same sequence with ``def`` handlers, best sampled with
  ``--gil``: the handler threads waiting on their queue would otherwise count as busy, but
  the time the threads spend handing calls over is then not seen at all).

It prints the functions with the largest share of samples: *self* (the function itself
was running) and *total* (it was anywhere on the stack). The collapsed stacks are kept in
``benchmarks/results/``; speedscope or inferno turn them into a flame graph.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from benchmarks.procs import HERE, Pinning, build_loadgen, python_bin
from benchmarks.scenarios import PROFILES, STAGE, TOKEN_QUERY, Bench


__all__ = ["main", "summarise"]


class _Scenario(NamedTuple):
    mode: str
    path: str
    sources: int
    conns: int
    config: str
    unit: str
    action: str = "echo"


# The generator's arguments as the benchmark scenarios give them, and what is counted.
_SCENARIOS = {
    "echo": _Scenario("echo", f"/{STAGE}", 1, 100, "echo-async.yaml", "msgs/s"),
    "postback": _Scenario(
        "echo", f"/{STAGE}{TOKEN_QUERY}", 1, 10, "compare.yaml", "msgs/s", action="postback"
    ),
    "handshake": _Scenario(
        "handshake", f"/{STAGE}{TOKEN_QUERY}", 8, 32, "handshake.yaml", "handshakes/s"
    ),
}


def summarise(
    collapsed: str, top: int = 25
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Self and total shares of samples per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return [], []
    return (
        [(name, n / samples) for name, n in own.most_common(top)],
        [(name, n / samples) for name, n in total.most_common(top)],
    )


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` without the line, and the path shortened."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "python3.11/", "lib/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_hot_path")
    parser.add_argument("--scenario", choices=sorted(_SCENARIOS), default="echo")
    parser.add_argument("--conns", type=int, help="default: 100 for echo, 32 for handshake")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--config", help="default: echo-async.yaml or handshake.yaml")
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL (with def handlers: see above)",
    )
    args = parser.parse_args(argv)
    scenario = _SCENARIOS[args.scenario]
    conns = args.conns or scenario.conns
    py_spy = shutil.which("py-spy") or python_bin("py-spy")
    if not Path(py_spy).exists() and shutil.which(py_spy) is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    pinning = Pinning.detect()
    bench = Bench(build_loadgen(), pinning, PROFILES["quick"], sys.stderr, file_limit=20_000)
    out = HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = out / f"profile-{stamp}.txt"
    with bench.wsgate(args.config or scenario.config) as server:
        record = [py_spy, "record", "--pid", str(server.pid), "--rate", str(args.rate)]
        record += ["--duration", str(int(args.seconds))] + (["--gil"] if args.gil else [])
        spy = subprocess.Popen([*record, "--format", "raw", "--output", str(raw)])
        result = bench.load(
            server,
            "--mode",
            scenario.mode,
            "--conns",
            str(conns),
            "--path",
            scenario.path,
            "--sources",
            str(scenario.sources),
            *(["--action", scenario.action] if scenario.mode == "echo" else []),
            duration=args.seconds + 2,
            warmup=0.5,
        )
        spy.wait(timeout=args.seconds + 60)
    print(
        f"{result.data['rate']:,.0f} {scenario.unit} at {conns} connections "
        f"(server core {100 * (result.server_cpu or 0):.0f}% busy, py-spy adds overhead)"
    )
    own, total = summarise(raw.read_text())
    print("\nself (the function itself on CPU):")
    for name, share in own:
        print(f"  {100 * share:5.1f}%  {name}")
    print("\ntotal (anywhere on the stack):")
    for name, share in total:
        print(f"  {100 * share:5.1f}%  {name}")
    print(f"\ncollapsed stacks: {raw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

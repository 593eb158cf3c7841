"""The benchmark suite still runs: a tiny run of every scenario, no rate checked against a goal."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent


def run_module(*argv: str, timeout: float) -> str:
    """``python -m argv...`` from the project root; its standard output, once it succeeded."""
    run = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout


@pytest.mark.timeout(180)
@pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None,
    reason="the load generator is C: needs gcc or cc",
)
def test_smoke_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    """`python -m benchmarks --profile smoke` measures each scenario and reports it."""
    with_chart = importlib.util.find_spec("matplotlib") is not None
    argv = ["benchmarks", "--profile", "smoke", "--out", str(tmp_path)]
    stdout = run_module(*(argv if with_chart else [*argv, "--no-chart"]), timeout=170)
    for row in (
        "round trip, raw echo",
        "round trip, async def route",
        "round trip, def route",
        "handshake, authorizer+$connect",
        "connection life, async def",
        "connection life, def",
        "idle memory",
        "POST @connections",
        "fan-out by handler",
        "two-way route, async handler, 10 conns vs raw echo",
        "connection lives, async handlers, vs raw aiohttp with token + $connect",
        "round trip, two-way route",
        "cold start of a python worker",
        "info: resident memory per idle warm python worker",
    ):
        assert row in stdout
    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["machine"]["cores"] >= 1
    assert document["machine"]["libraries"]["aiohttp"]
    measured = {(r["scenario"], r["server"]) for r in document["results"]}
    assert measured >= {
        ("echo", "raw"),
        ("echo-async", "wsgate"),
        ("echo-sync", "wsgate"),
        ("upgrade", "raw"),
        ("handshake-auth", "wsgate"),
        ("life", "raw"),
        ("life-bare", "bare"),
        ("life-async", "wsgate"),
        ("life-sync", "wsgate"),
        ("idle-memory", "raw"),
        ("idle-memory", "wsgate"),
        ("post", "raw"),
        ("post", "wsgate"),
        ("fanout", "raw"),
        ("fanout", "wsgate"),
        ("fn-echo", "in-process def"),
        ("fn-echo", "python worker"),
        ("cold-start", "python worker"),
        ("process-start", "python + awslambdaric"),
        ("worker-memory", "python worker"),
    }
    if shutil.which("redis-server") is not None or os.environ.get("CI"):
        assert ("post-redis", "2 nodes+redis") in measured
    assert all(r["errors"] == 0 for r in document["results"]), document["results"]
    # Whole connection lives (connect, authorizer, $connect, echo, close) completed, each
    # reply and close frame checked by the generator.
    lives = [r for r in document["results"] if r["scenario"].startswith("life")]
    assert len(lives) == 4
    assert all(r["value"] > 0 and r["unit"] == "lives/s" for r in lives), lives
    if with_chart:
        assert (tmp_path / "latest.png").stat().st_size > 0


def test_botocore_floor_reports_its_rate_as_json() -> None:
    """The comparison's bound (botocore alone, answer canned) still runs and reports."""
    figures = json.loads(run_module("benchmarks.botocore_floor", "--calls", "50", timeout=120))
    assert figures["calls"] == 50
    assert figures["us_per_call"] > 0
    assert abs(figures["calls_per_s"] * figures["us_per_call"] - 1e6) < 1


@pytest.mark.parametrize(
    "route", ["async", "def", "life", "raw-life", "bare-life", "post", "raw-post"]
)
def test_the_instruction_count_driver_makes_round_trips(route: str) -> None:
    """What ``benchmarks.instructions`` runs under callgrind still works with the code
    (without callgrind: counting takes minutes); a life whose upgrade, echo or close
    handshake goes wrong ends it with an error."""
    run_module("benchmarks.instructions", "--run", route, "20", timeout=60)

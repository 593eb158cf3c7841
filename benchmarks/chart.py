"""The PNG chart: every wsgate scenario beside its baseline (needs the ``bench`` extra)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.scenarios import Measurement


__all__ = ["draw"]

COLOURS = {
    "raw": "#7f7f7f",
    "bare": "#bcbd22",
    "wsgate": "#1f77b4",
    "serverless-offline": "#d62728",
    "wsgate, 2 nodes on Redis": "#9467bd",
}
SERIES = (
    ("echo", "raw", "raw aiohttp echo", "#7f7f7f"),
    ("echo-bare", "bare", "bare wire echo (ceiling)", "#bcbd22"),
    ("echo-async", "wsgate", "wsgate, async def route", "#1f77b4"),
    ("echo-sync", "wsgate", "wsgate, def route", "#ff7f0e"),
    ("sls-echo", "serverless-offline", "serverless-offline, def route", "#d62728"),
)

HANDSHAKE_BARS = (
    ("upgrade", "raw", "raw\nupgrade", COLOURS["raw"]),
    ("upgrade-bare", "bare", "bare wire\nupgrade", COLOURS["bare"]),
    ("handshake-auth", "wsgate", "wsgate\nauthorizer\n+ $connect", COLOURS["wsgate"]),
    # Connection lives: the raw server checks the token and runs a $connect hook too.
    ("life", "raw", "raw life\n+ token\n+ $connect", COLOURS["raw"]),
    ("life-bare", "bare", "bare wire\nlife", COLOURS["bare"]),
    ("life-async", "wsgate", "wsgate\nlife,\nasync def", COLOURS["wsgate"]),
    ("life-sync", "wsgate", "wsgate\nlife,\ndef", "#ff7f0e"),
)


def _bars(ax: Any, groups: list[str], series: dict[str, list[float]], unit: str) -> None:
    width = 0.8 / max(1, len(series))
    for index, (label, values) in enumerate(series.items()):
        xs = [g + index * width for g in range(len(groups))]
        colour = COLOURS.get(label) or COLOURS.get(label.split(" ")[0])
        bars = ax.bar(xs, values, width, label=label, color=colour)
        ax.bar_label(
            bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" for v in values], fontsize=7
        )
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups)
    ax.set_ylabel(unit)
    ax.legend(fontsize=7)


def _compare_row(axes: Any, results: Sequence[Measurement]) -> None:
    """wsgate beside serverless-offline, the same def handlers on both."""
    trips, shakes, memory = axes
    sides = ("wsgate", "serverless-offline")

    def pick(scenario: str) -> list[float]:
        return [next(iter(_values(results, scenario, side).values()), 0.0) for side in sides]

    echo, post = pick("sls-echo"), pick("sls-postback")
    _bars(
        trips,
        ["two-way def route", "boto3 post_to_connection"],
        {side: [echo[i], post[i]] for i, side in enumerate(sides)},
        "round trips/s",
    )
    trips.set(yscale="log", title="vs serverless-offline: round trips (10 conns)")
    _bars(
        shakes,
        ["authorizer + $connect"],
        {s: [v] for s, v in zip(sides, pick("sls-handshake"), strict=True)},
        "handshakes/s",
    )
    shakes.set(title="vs serverless-offline: handshakes (10 at once)")
    _bars(
        memory,
        ["100 connections open"],
        {s: [v] for s, v in zip(sides, pick("sls-memory"), strict=True)},
        "MiB (RSS of the process tree)",
    )
    memory.set(title="vs serverless-offline: memory after the runs")


def _values(results: Sequence[Measurement], scenario: str, server: str) -> dict[int, float]:
    return {m.conns: m.value for m in results if m.scenario == scenario and m.server == server}


def draw(results: Sequence[Measurement], machine: dict[str, Any], path: Path) -> bool:
    """Draw the chart to ``path``; False (with a note) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "chart skipped: matplotlib is not installed (pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return False
    compared = any(m.scenario.startswith("sls-") for m in results)
    rows = 3 if compared else 2
    fig, axes = plt.subplots(rows, 3, figsize=(16, 4.5 * rows), squeeze=False)
    (thr, lat, hs), (mem, post, fan) = axes[0], axes[1]
    for scenario, server, label, colour in SERIES:
        points = sorted(
            (m.conns, m) for m in results if m.scenario == scenario and m.server == server
        )
        if not points:
            continue
        xs = [c for c, _ in points]
        thr.plot(xs, [m.value for _, m in points], "o-", label=label, color=colour)
        lat.plot(xs, [m.p50_us or 0 for _, m in points], "o-", label=f"{label} p50", color=colour)
        lat.plot(
            xs,
            [m.p99_us or 0 for _, m in points],
            "x--",
            label=f"{label} p99",
            color=colour,
            alpha=0.7,
        )
    thr.set(
        xscale="log",
        xlabel="connections",
        ylabel="round trips/s",
        title="Round trips (100-byte message, one in flight per connection)",
    )
    lat.set(
        xscale="log",
        yscale="log",
        xlabel="connections",
        ylabel="latency (us)",
        title="Round-trip latency p50 / p99",
    )
    thr.legend(fontsize=7)
    lat.legend(fontsize=6, ncol=2)
    thr.set_ylim(bottom=0)

    groups: list[str] = []
    places: list[float] = []
    heights: list[float] = []
    colours: list[str] = []
    for scenario, server, label, colour in HANDSHAKE_BARS:
        values = _values(results, scenario, server)
        if values:
            groups.append(label)
            # A gap between the handshakes and the lives.
            places.append(len(places) + (0.5 if scenario.startswith("life") else 0.0))
            heights.append(next(iter(values.values())))
            colours.append(colour)
    if groups:
        bars = hs.bar(places, heights, color=colours)
        hs.bar_label(bars, labels=[f"{v:,.0f}" for v in heights], fontsize=7)
        hs.set_xticks(places, groups, fontsize=6)
    hs.set(
        ylabel="handshakes/s, lives/s",
        title="Handshakes (connect, upgrade, close)\nand lives (+ one two-way message)",
    )

    idle_raw, idle_ws = (
        _values(results, "idle-memory", "raw"),
        _values(results, "idle-memory", "wsgate"),
    )
    counts = sorted(set(idle_raw) | set(idle_ws))
    if counts:
        _bars(
            mem,
            [f"{c:,} conns" for c in counts],
            {
                "raw": [idle_raw.get(c, 0) for c in counts],
                "wsgate": [idle_ws.get(c, 0) for c in counts],
            },
            "KiB per connection",
        )
    mem.set(title="Idle memory: RSS growth per open connection")

    post_raw, post_ws = _values(results, "post", "raw"), _values(results, "post", "wsgate")
    post_redis = _values(results, "post-redis", "2 nodes+redis")
    if post_raw or post_ws:
        series = {
            "raw": list(post_raw.values())[:1] or [0],
            "wsgate": list(post_ws.values())[:1] or [0],
        }
        if post_redis:
            series["wsgate, 2 nodes on Redis"] = list(post_redis.values())[:1]
        _bars(post, ["POST @connections"], series, "posts/s")
    post.set(title="Management API: keep-alive POSTs, one in flight per client")

    fan_raw, fan_ws = _values(results, "fanout", "raw"), _values(results, "fanout", "wsgate")
    counts = sorted(set(fan_raw) | set(fan_ws))
    if counts:
        _bars(
            fan,
            [f"{c:,} conns" for c in counts],
            {
                "raw": [fan_raw.get(c, 0) for c in counts],
                "wsgate": [fan_ws.get(c, 0) for c in counts],
            },
            "ms until the last frame",
        )
    fan.set(title="Fan-out: one message to every connection")
    if compared:
        _compare_row(axes[2], results)
    fig.suptitle(
        f"wsgate benchmarks: {machine['cpu_model']}, {machine['cores']} cores, "
        f"Python {machine['python']}, aiohttp {machine['libraries'].get('aiohttp')} "
        f"({machine['pinning']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True

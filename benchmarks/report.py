"""The report: targets checked as ratios, a table on stdout, JSON, Markdown and a PNG chart."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.scenarios import Measurement


__all__ = ["Target", "check_targets", "render_table", "write_outputs"]


@dataclass
class Target:
    """One goal of issue 4, checked against figures of the same run."""

    name: str
    measured: float | None
    goal: float
    kind: str
    """``min-ratio``/``max-ratio`` (wsgate over its baseline), ``min``/``max`` (absolute),
    ``info`` (a ratio shown for reading, with no goal)."""
    unit: str = "x"
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.kind == "info" or self.measured is None or math.isnan(self.measured):
            return None
        if self.kind.startswith("min"):
            return self.measured >= self.goal
        return self.measured <= self.goal

    @property
    def verdict(self) -> str:
        if self.kind == "info" and self.measured is not None:
            return "no goal"
        if self.measured is None or self.met is None:
            return "not measured"
        if self.met:
            return "met"
        if self.kind.startswith("min"):
            return f"missed by {100 * (1 - self.measured / self.goal):.0f}%"
        return f"missed by {100 * (self.measured / self.goal - 1):.0f}%"


def _find(
    results: Iterable[Measurement], scenario: str, server: str, conns: int | None = None
) -> Measurement | None:
    for m in results:
        if m.scenario == scenario and m.server == server and (conns is None or m.conns == conns):
            return m
    return None


def _ratio(a: Measurement | None, b: Measurement | None) -> float | None:
    if a is None or b is None or not b.value:
        return None
    return a.value / b.value


def check_targets(results: Sequence[Measurement]) -> list[Target]:
    """The targets (issue 4's, raised by issue 11's redesign), each as measured in this run."""
    targets: list[Target] = []
    for conns in (10, 100):
        raw = _find(results, "echo", "raw", conns)
        for scenario, goal, what in (("echo-async", 0.9, "async"), ("echo-sync", 0.6, "def")):
            ours = _find(results, scenario, "wsgate", conns)
            targets.append(
                Target(
                    f"two-way route, {what} handler, {conns} conns vs raw echo",
                    _ratio(ours, raw),
                    goal,
                    "min-ratio",
                    detail=_pair(ours, raw, "msgs/s"),
                )
            )
    for conns in (10, 100):
        # The same figures against wsgate's own wire layer with no gateway logic.
        bare = _find(results, "echo-bare", "bare", conns)
        ours = _find(results, "echo-async", "wsgate", conns)
        targets.append(
            Target(
                f"ceiling: async route, {conns} conns vs bare wire echo",
                _ratio(ours, bare),
                0,
                "info",
                detail=_pair(ours, bare, "msgs/s"),
            )
        )
    ours, raw = _find(results, "handshake-auth", "wsgate"), _find(results, "upgrade", "raw")
    bare = _find(results, "upgrade-bare", "bare")
    targets.append(
        Target(
            "ceiling: handshakes with authorizer + $connect vs bare wire upgrades",
            _ratio(ours, bare),
            0,
            "info",
            detail=_pair(ours, bare, "handshakes/s"),
        )
    )
    targets.append(
        Target(
            "handshakes with authorizer + $connect vs raw upgrades",
            _ratio(ours, raw),
            0.6,
            "min-ratio",
            detail=_pair(ours, raw, "handshakes/s"),
        )
    )
    targets += _life_targets(results)
    targets += _function_targets(results)
    for m in results:
        if m.scenario != "idle-memory" or m.server != "wsgate":
            continue
        raw = _find(results, "idle-memory", "raw", m.conns)
        if raw is None or not m.extra.get("opened"):
            continue
        above = (m.extra["rss_after_kb"] - raw.extra["rss_before_kb"]) / m.extra["opened"]
        targets.append(
            Target(
                f"idle memory at {m.conns:,} conns above the raw server's idle process",
                above,
                20.0,
                "max",
                unit="KiB/conn",
                detail=f"wsgate {m.value:.1f} KiB/conn over its own idle RSS, raw {raw.value:.1f}",
            )
        )
    post = _find(results, "post", "wsgate")
    targets.append(
        Target(
            "management POST @connections on one core",
            post.value if post else None,
            10_000,
            "min",
            unit="posts/s",
            detail=_pair(post, _find(results, "post", "raw"), "posts/s"),
        )
    )
    across = _find(results, "post-redis", "2 nodes+redis")
    if across is not None:
        targets.append(
            Target(
                "POST to a connection on another node (node link) vs on the same node",
                _ratio(across, post),
                0.6,
                "min-ratio",
                detail=f"2 nodes + Redis {across.value:,.0f} vs one node "
                f"{post.value if post else 0:,.0f} posts/s",
            )
        )
    return targets


def _life_targets(results: Sequence[Measurement]) -> list[Target]:
    """Whole connection lives: wsgate against the raw aiohttp server doing the same token
    check, $connect and echo (the goal is the async config's; def is shown for reading),
    and the async config against the bare wire layer."""
    raw, bare = _find(results, "life", "raw"), _find(results, "life-bare", "bare")
    targets = []
    for scenario, what, goal, kind in (
        ("life-async", "async", 1.5, "min-ratio"),
        ("life-sync", "def", 0, "info"),
    ):
        ours = _find(results, scenario, "wsgate")
        targets.append(
            Target(
                f"connection lives, {what} handlers, vs raw aiohttp with token + $connect",
                _ratio(ours, raw),
                goal,
                kind,
                detail=_pair(ours, raw, "lives/s"),
            )
        )
    ours = _find(results, "life-async", "wsgate")
    targets.append(
        Target(
            "ceiling: connection lives, async handlers, vs bare wire lives",
            _ratio(ours, bare),
            0,
            "info",
            detail=_pair(ours, bare, "lives/s"),
        )
    )
    return targets


def _function_targets(results: Sequence[Measurement]) -> list[Target]:
    """Functions in worker processes: the route beside the in-process ``def`` route, the
    cold start of a new Python worker (the goal) and of a Node.js one, idle memory."""
    targets = []
    for m in results:
        if m.scenario != "fn-echo" or m.server == "in-process def":
            continue
        inprocess = _find(results, "fn-echo", "in-process def", m.conns)
        cpu = ""
        if "gateway_cpu_us" in m.extra:
            cpu = (
                f"; CPU per trip: gateway {m.extra['gateway_cpu_us']:,.0f} us, "
                f"worker {m.extra['workers_cpu_us']:,.0f} us"
            )
        targets.append(
            Target(
                f"info: two-way route by a {m.server}, {m.conns} conns vs in-process def",
                _ratio(m, inprocess),
                0,
                "info",
                detail=f"{m.server} {m.value:,.0f} vs in-process "
                f"{inprocess.value if inprocess else 0:,.0f} msgs/s{cpu}",
            )
        )
    for m in results:
        if m.scenario != "cold-start":
            continue
        python = m.server == "python worker"
        start = _find(results, "process-start", "python + awslambdaric" if python else "node, bare")
        targets.append(
            Target(
                f"cold start of a {m.server}, p50 of {m.conns}: new process to its answer",
                m.value,
                300 if python else 0,
                "max" if python else "info",
                unit="ms",
                detail=f"max {(m.max_us or 0) / 1000:,.0f} ms; {start.server} alone "
                f"{start.value:,.0f} ms"
                if start is not None
                else f"max {(m.max_us or 0) / 1000:,.0f} ms",
            )
        )
    for m in results:
        if m.scenario == "worker-memory":
            targets.append(
                Target(
                    f"info: resident memory per idle warm {m.server}",
                    m.value,
                    0,
                    "info",
                    unit="MiB",
                    detail=f"{m.extra['workers']} workers; proportional (PSS) "
                    f"{m.extra['pss_mib_mean']:.1f} MiB each",
                )
            )
    return targets


def check_generator(results: Sequence[Measurement]) -> list[Target]:
    """The load generator is not the limit when the raw server's core is saturated.

    Checked wherever the raw baseline has enough concurrency to fill its core (10 or more
    connections); one connection is bound by the round trip's latency instead.
    """
    checks = []
    for m in results:
        if m.server != "raw" or m.server_cpu is None or m.scenario in ("idle-memory", "fanout"):
            continue
        if m.scenario == "echo" and m.conns < 10:
            continue
        checks.append(
            Target(
                f"generator not the limit: raw server core busy, {ROW_TITLES[m.scenario]} "
                f"at {m.conns:,} conns",
                100 * m.server_cpu,
                90,
                "min",
                unit="% of a core",
                detail=f"generator used {_pct(m.client_cpu)} of its core",
            )
        )
    return checks


def _pair(ours: Measurement | None, raw: Measurement | None, unit: str) -> str:
    if ours is None or raw is None:
        return ""
    return f"wsgate {ours.value:,.0f} vs {raw.server} {raw.value:,.0f} {unit}"


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


ROW_TITLES = {
    "echo": "round trip, raw echo",
    "echo-async": "round trip, async def route",
    "echo-sync": "round trip, def route",
    "echo-bare": "round trip, bare wire echo",
    "upgrade": "handshake, raw upgrade",
    "upgrade-bare": "handshake, bare wire upgrade",
    "handshake-auth": "handshake, authorizer+$connect",
    "life": "connection life, raw token+$connect",
    "life-bare": "connection life, bare wire",
    "life-async": "connection life, async def",
    "life-sync": "connection life, def",
    "idle-memory": "idle memory",
    "workers-handshake": "handshake, authorizer+$connect, by workers",
    "workers-echo": "round trip, async def route, by workers",
    "function-echo": "round trip, function in workers, reload on/off",
    "post": "POST @connections",
    "post-redis": "POST, to another node",
    "fanout": "fan-out by handler",
    "fn-echo": "round trip, two-way route",
    "cold-start": "cold start, new worker",
    "process-start": "process start alone",
    "worker-memory": "idle warm worker, RSS",
    "sls-echo": "round trip, def route",
    "sls-postback": "round trip, boto3 post_back",
    "sls-handshake": "handshake, authorizer+$connect",
    "sls-upgrade": "handshake, raw upgrade",
    "sls-memory": "memory with conns open",
    "sls-botocore": "post_to_connection, canned",
}


def table_rows(results: Sequence[Measurement]) -> list[list[str]]:
    rows = [
        [
            "scenario",
            "server",
            "conns",
            "value",
            "unit",
            "p50 us",
            "p99 us",
            "max us",
            "srv CPU",
            "gen CPU",
            "errors",
        ],
    ]
    for m in results:
        digits = 1 if m.unit in ("KiB/conn", "ms to last frame", "MiB", "MiB/worker", "ms") else 0
        p50, p99 = m.p50_us, m.p99_us
        if m.scenario == "post":
            p50 = m.extra.get("frame_p50_us")
            p99 = m.extra.get("frame_p99_us")
        rows.append(
            [
                ROW_TITLES.get(m.scenario, m.scenario)
                + (" (to frame)" if m.scenario == "post" else ""),
                m.server,
                f"{m.conns:,}",
                _fmt(m.value, digits),
                m.unit,
                _fmt(p50),
                _fmt(p99),
                _fmt(m.max_us),
                _pct(m.server_cpu),
                _pct(m.client_cpu),
                str(m.errors),
            ]
        )
    return rows


def render_table(rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i < 2 or i == 4 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells))
        if index == 0:
            rule = ["-" * w for w in widths]
            lines.append(("| " + " | ".join(rule) + " |") if markdown else "  ".join(rule))
    return "\n".join(lines)


def target_rows(targets: Sequence[Target]) -> list[list[str]]:
    rows = [["target", "measured", "goal", "verdict", "figures"]]
    for t in targets:
        comparator = ">=" if t.kind.startswith("min") else "<="
        digits = 2 if t.unit == "x" else 1 if t.unit in ("KiB/conn", "MiB") else 0
        unit = "x" if t.unit == "x" else f" {t.unit}"
        measured = "-" if t.measured is None else f"{t.measured:,.{digits}f}{unit}"
        goal = "-" if t.kind == "info" else f"{comparator} {t.goal:,g}{unit}"
        rows.append([t.name, measured, goal, t.verdict, t.detail])
    return rows


def render_machine(machine: dict[str, Any]) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    extra = ""
    if "node" in machine:
        extra = f"\nNode {machine['node']}, {machine.get('serverless', '')}"
    return (
        f"{machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
        f"{machine['os']}, Linux {machine['kernel']}\n"
        f"Python {machine['python']}; {libs}; {machine['compiler']}\n"
        f"Pinning: {machine['pinning']}{extra}"
    )


def write_outputs(
    out_dir: Path,
    stamp: str,
    machine: dict[str, Any],
    settings: dict[str, Any],
    results: Sequence[Measurement],
    targets: Sequence[Target],
    compare: Sequence[Target],
    chart: bool = True,
) -> dict[str, Path]:
    """Write JSON, Markdown and (with matplotlib) the PNG chart; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    document = {
        "machine": machine,
        "settings": settings,
        "results": [asdict(m) for m in results],
        "targets": [{**asdict(t), "met": t.met, "verdict": t.verdict} for t in targets],
        "serverless_offline": [{**asdict(t), "met": t.met, "verdict": t.verdict} for t in compare],
    }
    text = json.dumps(_clean(document), indent=2, allow_nan=False)
    for name in (f"bench-{stamp}.json", "latest.json"):
        (out_dir / name).write_text(text + "\n")
    written["json"] = out_dir / f"bench-{stamp}.json"
    md = [
        f"Machine: {render_machine(machine)}".replace("\n", "  \n"),
        "",
        render_table(table_rows(results), markdown=True),
        "",
        render_table(target_rows(targets), markdown=True),
    ]
    if compare:
        md += ["", render_table(target_rows(compare), markdown=True)]
    for name in (f"bench-{stamp}.md", "latest.md"):
        (out_dir / name).write_text("\n".join(md) + "\n")
    written["markdown"] = out_dir / f"bench-{stamp}.md"
    if chart:
        from benchmarks.chart import draw

        png = out_dir / f"bench-{stamp}.png"
        if draw(results, machine, png):
            (out_dir / "latest.png").write_bytes(png.read_bytes())
            written["chart"] = png
    return written


def _clean(value: Any) -> Any:
    """The document with NaN (a figure that could not be measured) as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value

"""Processes of a benchmark run: the load generator, the servers, and what /proc says of them.

Pinning: on a machine with two or more cores every server runs under ``taskset -c 1``
(with its threads, so a thread pool shares that one core) and the load generator under
``taskset -c 0``; the runner pins itself to core 0 too, where it only sleeps and reads
lines. ``BENCH_SERVER_CPU`` and ``BENCH_CLIENT_CPU`` choose other cores. On one core
nothing is pinned and the figures say so.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Protocol


__all__ = [
    "HERE",
    "WORK",
    "Group",
    "LoadResult",
    "Measured",
    "Pinning",
    "Server",
    "build_loadgen",
    "cpu_seconds",
    "descendants",
    "free_port",
    "machine_info",
    "raise_file_limit",
    "rss_kb",
    "run_loadgen",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Pinning:
    """Which core the servers get and which the load generator gets (None: unpinned)."""

    server: str | None
    client: str | None

    @classmethod
    def detect(cls) -> Pinning:
        cores = os.cpu_count() or 1
        if cores < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(os.environ.get("BENCH_SERVER_CPU", "1"), os.environ.get("BENCH_CLIENT_CPU", "0"))

    def wrap(self, argv: Sequence[str], cpu: str | None) -> list[str]:
        return ["taskset", "-c", cpu, *argv] if cpu is not None else list(argv)

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (one core or no taskset): generator and server share the CPU"
        return f"server on core {self.server}, load generator and runner on core {self.client}"


def raise_file_limit(want: int) -> int:
    """Raise this process's open-file limit (inherited by children); return what it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 outside the ephemeral range.

    Tens of thousands of client connections use the ephemeral ports; a server port from
    that range could still be held by one of them, closing, when the next server binds.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low, high = (int(n) for n in ports.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    candidates = range(10_000, low) if low > 11_000 else range(high + 1, 65_536)
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port outside the ephemeral range")


def build_loadgen() -> Path:
    """Compile ``loadgen.c`` with the system C compiler unless the binary is up to date."""
    source = HERE / "loadgen.c"
    binary = WORK / "loadgen"
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SystemExit("benchmarks: a C compiler (gcc or cc) is needed to build loadgen.c")
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(binary), str(source)], check=True, timeout=120
    )
    return binary


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _first_line(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def machine_info(pinning: Pinning) -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, kernel, Python, libraries."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "libraries": {
            name: _version(name) for name in ("wsgate", "aiohttp", "uvloop", "orjson", "boto3")
        },
        "compiler": _first_line([os.environ.get("CC") or "gcc", "--version"]),
        "pinning": pinning.describe(),
    }


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: Sequence[int], reaped: bool = False) -> float:
    """User + system CPU time of the processes (all their threads), in seconds.

    With ``reaped``, also the time of their children that exited and were waited for, so
    that a process tree's total does not drop when a worker exits.
    """
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if reaped:
            total += int(fields[13]) + int(fields[14])
    return total / TICKS


def rss_kb(pids: Sequence[int]) -> int:
    """Resident memory of the processes, summed, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE_KB
        except OSError:
            continue
    return total


@dataclass
class Server:
    """A server under test, started as a subprocess pinned to the server core."""

    name: str
    argv: list[str]
    port: int
    pinning: Pinning
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    tree: bool = False
    """Count child processes too (serverless-offline runs handlers in Python children)."""
    ready_path: str | None = None
    """An HTTP path that must answer before the server counts as up (None: the port opens)."""
    log_path: Path | None = None
    start_timeout: float = 60.0
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} is not running"
        return self._proc.pid

    def pids(self) -> list[int]:
        return descendants(self.pid) if self.tree else [self.pid]

    def cpu(self) -> float:
        return cpu_seconds(self.pids(), reaped=self.tree)

    def rss_kb(self) -> int:
        return rss_kb(self.pids())

    def start(self) -> Server:
        log_path = self.log_path or WORK / "logs" / f"{self.name}-{self.port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")  # closed in stop()
        env = {**os.environ, **self.env}
        self._proc = subprocess.Popen(
            self.pinning.wrap(self.argv, self.pinning.server),
            env=env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {log_path}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {self.start_timeout:g} s; see {log_path}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                if self.ready_path is None:
                    return True
                sock.sendall(f"GET {self.ready_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                return sock.recv(16).startswith(b"HTTP/1.1")
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass
        try:  # children left behind in the group (serverless-offline's Python workers)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def pause(self) -> None:
        """SIGSTOP the server's process group: it takes no CPU while another is measured."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what ``pause`` stopped."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LoadResult:
    """One run of the load generator: its JSON line, and CPU use over the window."""

    data: dict[str, Any]
    server_cpu: float | None
    """Share of one core the server used over the measuring window (1.0 = saturated)."""
    client_cpu: float | None
    """Share of one core the load generator used over the same window."""
    server_rss_kb: int | None


class Measured(Protocol):
    """What the generator samples at its window marks: a server, or a group of them."""

    def cpu(self) -> float: ...

    def rss_kb(self) -> int: ...


@dataclass
class Group:
    """Servers that answer together (the nodes of one API and their Redis), measured as
    one: CPU time and memory summed."""

    servers: Sequence[Server]

    def cpu(self) -> float:
        return sum(server.cpu() for server in self.servers)

    def rss_kb(self) -> int:
        return sum(server.rss_kb() for server in self.servers)


def run_loadgen(
    binary: Path,
    args: Sequence[str],
    server: Measured,
    pinning: Pinning,
    *,
    timeout: float,
    on_ready: Callable[[IO[str]], None] | None = None,
) -> LoadResult:
    """Run the generator against ``server``; sample both processes at its window marks.

    ``on_ready`` is called when an idle-mode generator prints ``ready`` (all connections
    open); it gets the generator's stdin, where it writes ``close`` when done.
    """
    argv = pinning.wrap([str(binary), *args], pinning.client)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    marks: dict[str, tuple[float, float, float]] = {}
    data: dict[str, Any] | None = None
    rss: int | None = None
    assert proc.stdout is not None and proc.stdin is not None
    try:
        for line in proc.stdout:
            if line.startswith("mark "):
                rss = server.rss_kb()
                marks[line.split()[1]] = (
                    time.monotonic(),
                    server.cpu(),
                    cpu_seconds([proc.pid]),
                )
            elif line.startswith("ready"):
                if on_ready is not None:
                    on_ready(proc.stdin)
                proc.stdin.write("close\n")
                proc.stdin.flush()
            elif line.startswith("{"):
                data = json.loads(line)
        proc.wait(10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if data is None:
        raise RuntimeError(f"loadgen gave no result (exit {proc.returncode}): {' '.join(argv)}")
    server_cpu = client_cpu = None
    if "start" in marks and "end" in marks:
        (t0, s0, c0), (t1, s1, c1) = marks["start"], marks["end"]
        # /proc counts CPU time in clock ticks (10 ms): a shorter window says nothing.
        if t1 - t0 >= 0.5:
            server_cpu, client_cpu = (s1 - s0) / (t1 - t0), (c1 - c0) / (t1 - t0)
    return LoadResult(data, server_cpu, client_cpu, rss)


def python_bin(name: str) -> str:
    """A console script installed beside the running Python (the venv's ``wsgate``)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name

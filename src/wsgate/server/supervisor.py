"""``wsgate serve --workers N``: N gateway processes on the same ports, and their supervisor.

The supervisor runs no gateway. It binds nothing it serves: it reserves the ports
(resolving a port 0 once, so that every worker binds the same one), makes the one
certificate of the gateway's own they all present (``server.local_tls``: the self-signed
TLS listener and TLS on the plain port), starts the workers as ``wsgate serve``
processes, and then only watches them. Each worker listens with SO_REUSEPORT, so the
kernel spreads new connections over them; the Redis registry joins them, so that a
management call answered by any worker reaches a connection held by any other.

Each worker gets one end of a socket pair. It writes ``ready`` on it once it listens; the
supervisor reads EOF there when the worker dies, and the worker reads EOF when the
supervisor dies (even by SIGKILL), and then shuts down as on SIGTERM: no worker outlives
its supervisor.

A worker that dies is started again after a backoff that doubles with each death in a
row (0.5 s up to 30 s; a worker that served 30 s starts the count again), so a crash
loop costs little. SIGTERM or SIGINT is passed on to every worker, each of which runs
its usual graceful shutdown (1001 to every connection, their ``$disconnect``); the
supervisor exits 0 when all of them exited 0. If the workers cannot start (one exits or
hangs before it is ready), the others are stopped and the supervisor exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.server import local_tls
from wsgate.workers.endpoints import execute_api_host


if TYPE_CHECKING:
    from wsgate.server.tls import TlsFiles


__all__ = [
    "Supervisor",
    "WorkerLink",
    "WorkerSpec",
    "refuse_memory_registry",
    "shared_listeners",
    "worker_count",
]

log = logging.getLogger("wsgate.supervisor")

START_TIMEOUT = 60.0
"""Seconds a worker may take from its start to ``ready`` (handlers imported, Redis
joined, ports bound) before it counts as failed."""
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 30.0
"""A worker that served this long and then died is restarted after ``BACKOFF_FIRST``."""
STOP_GRACE = 10.0
"""Seconds allowed past ``server.shutdown_timeout`` for a worker's cleanup before SIGKILL."""
_READY = b"ready\n"


def worker_count(text: str) -> int:
    """``--workers``: a positive number, or ``auto`` for the cores this process may use."""
    if text == "auto":
        return len(os.sched_getaffinity(0))
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"expected a positive number or auto, got {text!r}")
    return count


def refuse_memory_registry(config: GatewayConfig, count: int) -> None:
    """Raise ConfigError when ``count`` workers would each hold a registry of their own."""
    if count > 1 and config.registry.backend == "memory":
        raise ConfigError(
            f"--workers {count} needs the redis registry: the memory registry keeps "
            "connections inside one process, so a management call answered by one worker "
            "could not reach a connection another holds. Set in the config\n"
            "  registry:\n"
            "    backend: redis\n"
            "    url: redis://127.0.0.1:6379/0   # your Redis\n"
            "    prefix: wsgate                  # one per gateway sharing that Redis\n"
            "or serve with --workers 1."
        )


# --- what every worker shares ---------------------------------------------------------


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker is told on its command line (``--worker-spec``, JSON): which it is, its
    end of the socket pair, and the listeners and certificate it shares with the others."""

    index: int
    fd: int
    port: int
    tls_port: int | None = None
    own_cert: str | None = None
    own_key: str | None = None
    """The gateway's own certificate (``local_tls``), made once for every worker: a client
    or a function may meet any worker on a shared port, and trusts only this one."""
    management_listen: str | None = None

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))

    def apply(self, config: GatewayConfig) -> GatewayConfig:
        """``config`` with the shared ports, and this worker's admin port: ``admin.listen``'s
        port plus the worker's index (0 stays 0: each picks one), so that each worker's
        ``/metrics`` can be scraped on its own; ``registry.link_listen``'s port likewise."""
        server: dict[str, object] = {"port": self.port, "tls_port": self.tls_port}
        update: dict[str, object] = {"server": config.server.model_copy(update=server)}
        if self.management_listen is not None:
            update["management"] = config.management.model_copy(
                update={"listen": self.management_listen}
            )
        admin = config.admin.listen_address()
        if admin is not None and admin[1] != 0:
            listen = _listen_text(admin[0], admin[1] + self.index)
            update["admin"] = config.admin.model_copy(update={"listen": listen})
        link, _ = config.registry.link_addresses()
        if link is not None and link[1] != 0:  # each worker is a node with a link of its own
            listen = _listen_text(link[0], link[1] + self.index)
            update["registry"] = config.registry.model_copy(update={"link_listen": listen})
        return config.model_copy(update=update)

    def link(self) -> WorkerLink:
        return WorkerLink(self.fd)

    def own_certificate(self) -> TlsFiles | None:
        if self.own_cert is None or self.own_key is None:
            return None
        # Imported only here: cryptography adds megabytes to the process.
        from wsgate.server.tls import TlsFiles

        return TlsFiles(cert=Path(self.own_cert), key=Path(self.own_key))


def _listen_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hold(host: str, port: int, what: str) -> socket.socket:
    """A socket bound to ``host``:``port`` with SO_REUSEPORT and never listening: it fixes
    a port 0 once for every worker, and keeps the port from any program that does not
    share it while workers restart. The kernel hands connections to listening sockets
    only."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = found[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"{what} {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # as asyncio binds the workers' sockets
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{what} {host}:{port}: {exc.strerror or exc}") from exc
    return sock


@contextlib.contextmanager
def shared_listeners(config: GatewayConfig) -> Iterator[WorkerSpec]:
    """Reserve the ports every worker binds and make their certificate; the template of
    each worker's ``WorkerSpec`` (index and fd 0). Released on exit."""
    holds: list[socket.socket] = []
    made: list[Path] = []
    try:
        server = config.server
        holds.append(_hold(server.host, server.port, "server.port"))
        spec = WorkerSpec(index=0, fd=0, port=int(holds[-1].getsockname()[1]))
        if server.tls_port is not None:
            holds.append(_hold(server.host, server.tls_port, "server.tls_port"))
            spec = replace(spec, tls_port=int(holds[-1].getsockname()[1]))
        if local_tls.wanted(config):
            api = config.api
            names = local_tls.certificate_names(
                config, execute_api_host(api.resolved_api_id(), api.region)
            )
            own = local_tls.make_local_certificate(names)  # AWS_CA_BUNDLE, inherited
            made += own.made
            spec = replace(spec, own_cert=str(own.files.cert), own_key=str(own.files.key))
        listen = config.management.listen_address()
        if listen is not None:
            holds.append(_hold(listen[0], listen[1], "management.listen"))
            port = int(holds[-1].getsockname()[1])
            spec = replace(spec, management_listen=_listen_text(listen[0], port))
        yield spec
    finally:
        for sock in holds:
            sock.close()
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()


# --- the worker's end -------------------------------------------------------------------


class WorkerLink:
    """A worker's end of its socket pair with the supervisor."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)

    def ready(self) -> None:
        """Tell the supervisor the worker listens."""
        try:
            self._sock.sendall(_READY)
        except OSError:
            pass  # the supervisor is gone: ``watch`` reads EOF and stops the worker

    def watch(self, on_gone: Callable[[], None]) -> None:
        """Call ``on_gone`` (on the running loop) once the supervisor is gone."""
        loop = asyncio.get_running_loop()
        sock = self._sock
        sock.setblocking(False)

        def readable() -> None:
            try:
                data = sock.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(sock)
                log.warning("the supervisor is gone: shutting down")
                on_gone()

        loop.add_reader(sock, readable)


# --- the supervisor ---------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    channel: socket.socket
    started: float
    ready_at: float | None = None


class Supervisor:
    """Starts ``count`` workers (``argv`` plus ``--worker-spec``), keeps them up, stops them."""

    def __init__(
        self, argv: Sequence[str], count: int, shared: WorkerSpec, shutdown_timeout: float
    ) -> None:
        self._argv = list(argv)
        self._count = count
        self._shared = shared
        self._stop_within = shutdown_timeout + STOP_GRACE
        self._workers: dict[int, _Worker] = {}
        self._failures = [0] * count
        """Deaths in a row of each slot: its next backoff."""
        self._due: dict[int, float] = {}
        """Slots waiting for their restart, and when."""
        self._signal: int | None = None
        self._selector = selectors.DefaultSelector()

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT; the exit status."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._selector.register(wake_r, selectors.EVENT_READ)
        previous = signal.set_wakeup_fd(wake_w)
        handlers = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        }
        try:
            for index in range(self._count):
                self._start(index)
            status = self._await_start(wake_r)
            if status is None and self._signal is None:
                pids = ", ".join(str(w.process.pid) for w in self._workers.values())
                described = [f"pids {pids}"] if pids else []
                if self._due:  # ready, then died meanwhile: restarted after the backoff
                    described.append(f"{len(self._due)} restarting")
                log.info(
                    "%d workers ready (%s), sharing port %d",
                    self._count,
                    "; ".join(described),
                    self._shared.port,
                )
                self._watch(wake_r)
            return self._stop_all(status)
        finally:
            signal.set_wakeup_fd(previous)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self._selector.close()
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD and self._signal is None:
            self._signal = signum  # acted upon in the loop; the wakeup fd woke it

    def _start(self, index: int) -> None:
        ours, theirs = socket.socketpair()
        spec = replace(self._shared, index=index, fd=theirs.fileno())
        try:
            process = subprocess.Popen(
                [*self._argv, "--worker-spec", spec.encode()], pass_fds=(theirs.fileno(),)
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = _Worker(index, process, ours, time.monotonic())
        self._workers[index] = worker
        self._selector.register(ours, selectors.EVENT_READ, worker)
        log.info("worker %d started (pid %d)", index, process.pid)

    def _wait(self, wake_r: int, timeout: float) -> None:
        """Wait for a worker's line or EOF, a signal, or ``timeout``; take what came."""
        for key, _events in self._selector.select(max(timeout, 0.0)):
            worker = key.data
            if worker is None:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
                continue
            if not self._take_line(worker):  # the worker is exiting: it is reaped in _reap
                self._selector.unregister(worker.channel)

    @staticmethod
    def _take_line(worker: _Worker) -> bool:
        """Read what the worker wrote (``ready``); False on EOF, when it is exiting."""
        try:
            data = worker.channel.recv(64)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if data.startswith(_READY) and worker.ready_at is None:
            worker.ready_at = time.monotonic()
        return bool(data)

    def _reap(self) -> list[tuple[_Worker, int]]:
        """The workers that exited since the last call, with their exit status."""
        dead = []
        for index, worker in list(self._workers.items()):
            status = worker.process.poll()
            if status is None:
                continue
            # A worker may write ``ready`` and die before the loop read it: it was ready.
            self._take_line(worker)
            del self._workers[index]
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.channel)
            worker.channel.close()
            dead.append((worker, status))
        return dead

    def _await_start(self, wake_r: int) -> int | None:
        """Wait until every worker is ready; None then, else the failing exit status."""
        deadline = time.monotonic() + START_TIMEOUT
        while self._signal is None:
            now = time.monotonic()
            for worker, status in self._reap():
                if worker.ready_at is not None:  # served, then died: restarted as in _watch
                    self._schedule(worker, status, now)
                    continue
                log.error("worker %d exited before it was ready (%s)", worker.index, _how(status))
                return status if status > 0 else 1
            if all(w.ready_at is not None for w in self._workers.values()):
                return None
            if time.monotonic() > deadline:
                log.error("the workers were not ready within %g s", START_TIMEOUT)
                return 1
            self._wait(wake_r, min(1.0, deadline - time.monotonic()))
        return None

    def _watch(self, wake_r: int) -> None:
        """Restart what dies, with a backoff, until a signal comes."""
        while self._signal is None:
            now = time.monotonic()
            for worker, status in self._reap():
                self._schedule(worker, status, now)
            for index, due in list(self._due.items()):
                if due <= now:
                    del self._due[index]
                    self._start(index)
            for worker in list(self._workers.values()):
                if worker.ready_at is None and now - worker.started > START_TIMEOUT:
                    log.error(
                        "worker %d not ready within %g s: killed", worker.index, START_TIMEOUT
                    )
                    worker.process.kill()
            timeout = min([1.0, *(due - now for due in self._due.values())])
            self._wait(wake_r, timeout)

    def _schedule(self, worker: _Worker, status: int, now: float) -> None:
        ready_at = worker.ready_at
        if ready_at is not None and now - ready_at >= STABLE_AFTER:
            self._failures[worker.index] = 0
        self._failures[worker.index] += 1
        delay = min(BACKOFF_FIRST * 2 ** (self._failures[worker.index] - 1), BACKOFF_MAX)
        log.warning(
            "worker %d (pid %d) %s; starting another in %g s",
            worker.index,
            worker.process.pid,
            _how(status),
            delay,
        )
        self._due[worker.index] = now + delay

    def _stop_all(self, status: int | None) -> int:
        """Pass the signal (or SIGTERM) on to every worker and wait for them; SIGKILL what
        is left after ``server.shutdown_timeout`` and a grace. The exit status."""
        signum = self._signal or signal.SIGTERM
        if self._signal is not None:
            log.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(self._workers))
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signum)
        clean = True
        deadline = time.monotonic() + self._stop_within
        while self._workers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for worker in self._workers.values():
                    log.error("worker %d did not stop in time: killed", worker.index)
                    worker.process.kill()
                    worker.process.wait()
                clean = False
                self._reap()
                break
            for worker, code in self._reap():
                if code != 0:
                    log.warning("worker %d %s", worker.index, _how(code))
                    clean = False
            if self._workers:
                with contextlib.suppress(InterruptedError):
                    time.sleep(min(0.05, remaining))
        if status is not None:
            return status
        return 0 if clean else 1


def _how(status: int) -> str:
    """An exit status as words: ``exited with 1``, ``killed by SIGKILL``."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exited with {status}"

"""The supervisor of ``wsgate serve --workers`` with stand-in workers (small Python
programs speaking its socket-pair protocol), and what it hands every worker."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from cryptography import x509

from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.server import supervisor
from wsgate.server.supervisor import (
    Supervisor,
    WorkerSpec,
    refuse_memory_registry,
    shared_listeners,
    worker_count,
)
from wsgate.server.tls import TlsFiles


WORKER = textwrap.dedent(
    """
    import json, os, signal, socket, sys, time

    spec = json.loads(sys.argv[sys.argv.index("--worker-spec") + 1])
    mode = sys.argv[1]
    if mode == "fail":
        sys.exit(5)
    if mode == "hang":
        time.sleep(60)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    socket.socket(fileno=spec["fd"]).sendall(b"ready\\n")
    if mode == "crash":
        sys.exit(3)
    while True:
        time.sleep(1)
    """
)


def _stand_ins(mode: str, count: int = 2) -> Supervisor:
    argv = [sys.executable, "-c", WORKER, mode]
    return Supervisor(argv, count, WorkerSpec(index=0, fd=0, port=1), shutdown_timeout=2)


def _signal_later(seconds: float, signum: int = signal.SIGTERM) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


def test_sigterm_stops_every_worker_and_exits_0(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "wsgate.supervisor")
    timer = _signal_later(3.0)
    try:
        assert _stand_ins("serve").run() == 0
    finally:
        timer.cancel()
    assert "2 workers ready" in caplog.text
    assert "SIGTERM: stopping 2 worker(s)" in caplog.text


def test_a_worker_failing_at_start_fails_the_supervisor(caplog: pytest.LogCaptureFixture) -> None:
    assert _stand_ins("fail").run() == 5
    assert "exited before it was ready (exited with 5)" in caplog.text


def test_a_worker_never_ready_fails_the_supervisor(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor, "START_TIMEOUT", 0.5)
    assert _stand_ins("hang", count=1).run() == 1
    assert "not ready within 0.5 s" in caplog.text


def test_a_crash_loop_backs_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker dying again and again is restarted after a delay that doubles, up to
    the most; the loop goes on until the stop signal."""
    monkeypatch.setattr(supervisor, "BACKOFF_FIRST", 0.1)
    monkeypatch.setattr(supervisor, "BACKOFF_MAX", 0.4)
    caplog.set_level(logging.INFO, "wsgate.supervisor")
    timer = _signal_later(4.0)
    try:
        # Started ready, each dies at once: their last ones may not be reaped clean.
        assert _stand_ins("crash", count=1).run() in (0, 1)
    finally:
        timer.cancel()
    delays = [
        float(d) for d in re.findall(r"exited with 3; starting another in ([\d.]+) s", caplog.text)
    ]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]


class _LateReader(Supervisor):
    """Reaps each worker only once it has exited: a worker that wrote ``ready`` and died
    at once is reaped before the loop read its line (a race seen in CI)."""

    def _reap(self) -> list[tuple[supervisor._Worker, int]]:
        for worker in self._workers.values():
            worker.process.wait(timeout=10)
        return super()._reap()


def test_a_worker_ready_and_dead_before_its_line_was_read_counts_as_ready(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor, "BACKOFF_FIRST", 0.1)
    caplog.set_level(logging.INFO, "wsgate.supervisor")
    argv = [sys.executable, "-c", WORKER, "crash"]
    late = _LateReader(argv, 1, WorkerSpec(index=0, fd=0, port=1), shutdown_timeout=2)
    timer = _signal_later(1.5)
    try:
        # The stop may meet a worker just started, before its SIGTERM handler: status 1.
        assert late.run() in (0, 1)
    finally:
        timer.cancel()
    assert "before it was ready" not in caplog.text
    assert "1 workers ready (1 restarting)" in caplog.text
    assert "worker 0 (pid" in caplog.text and "exited with 3; starting another in 0.1 s" in (
        caplog.text
    )


# --- what the workers share ------------------------------------------------------------


def _config(**sections: object) -> GatewayConfig:
    return GatewayConfig.model_validate({"server": {"port": 0}, **sections})


def test_worker_count() -> None:
    assert worker_count("3") == 3
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(ValueError, match="a positive number or auto"):
            worker_count(bad)


def test_the_memory_registry_refuses_more_than_one_worker() -> None:
    refuse_memory_registry(_config(), 1)
    refuse_memory_registry(_config(registry={"backend": "redis"}), 4)
    with pytest.raises(ConfigError, match="--workers 2 needs the redis registry") as raised:
        refuse_memory_registry(_config(), 2)
    assert "backend: redis" in str(raised.value) and "url: redis://" in str(raised.value)


def test_a_port_0_is_resolved_once_and_held() -> None:
    config = _config(management={"listen": "127.0.0.1:0"})
    with shared_listeners(config) as shared:
        assert shared.port != 0 and shared.tls_port is None
        assert shared.management_listen is not None
        assert not shared.management_listen.endswith(":0")
        # Held: a program that does not share the port cannot take it.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", shared.port))
        worker = shared.apply(config)
        assert worker.server.port == shared.port
        assert worker.management.listen == shared.management_listen
    with socket.socket() as other:
        other.bind(("127.0.0.1", shared.port))  # released


def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(ConfigError, match=f"server.port 127.0.0.1:{port}"),
            shared_listeners(_config(server={"port": port})),
        ):
            pass


def test_one_self_signed_certificate_for_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    config = _config(server={"port": 0, "tls_port": 0})
    with shared_listeners(config) as shared:
        assert shared.own_cert is not None and shared.own_key is not None
        cert = Path(shared.own_cert)
        assert cert.is_file()
        bundle = Path(os.environ["AWS_CA_BUNDLE"])  # the workers' handlers inherit it
        assert cert.read_bytes() in bundle.read_bytes()
        names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions
        dns = names.get_extension_for_class(x509.SubjectAlternativeName).value
        api = config.api
        aws_name = f"{api.resolved_api_id()}.execute-api.{api.region}.amazonaws.com"
        assert {"localhost", aws_name} <= set(dns.get_values_for_type(x509.DNSName))
        for index in (0, 1):
            worker = WorkerSpec.decode(WorkerSpec(**{**vars(shared), "index": index}).encode())
            assert worker.own_certificate() == TlsFiles(cert=cert, key=Path(shared.own_key))
            server = worker.apply(config).server
            assert (server.tls_cert, server.tls_key) == (None, None)  # not taken for the user's
            assert server.tls_port == shared.tls_port
    assert not cert.exists() and not bundle.exists()


def test_no_certificate_when_nothing_calls_over_https() -> None:
    with shared_listeners(_config(server={"port": 0})) as shared:
        assert shared.own_certificate() is None


def test_each_worker_has_an_admin_port_of_its_own() -> None:
    config = _config(admin={"listen": "127.0.0.1:9100"})
    spec = WorkerSpec(index=2, fd=0, port=8080)
    assert spec.apply(config).admin.listen == "127.0.0.1:9102"
    picked = _config(admin={"listen": "[::1]:0"})
    assert spec.apply(picked).admin.listen == "[::1]:0"
    assert WorkerSpec(index=1, fd=0, port=1).apply(_config()).admin.listen is None


def test_each_worker_has_a_node_link_port_of_its_own() -> None:
    """Every worker is a node of the redis registry: a fixed ``link_listen`` port is that
    port plus the worker's index; 0 stays 0 and null (no link) stays null."""
    redis = {"backend": "redis", "link_listen": "127.0.0.1:7400"}
    spec = WorkerSpec(index=2, fd=0, port=8080)
    assert spec.apply(_config(registry=redis)).registry.link_listen == "127.0.0.1:7402"
    picked = _config(registry={**redis, "link_listen": "[::1]:0"})
    assert spec.apply(picked).registry.link_listen == "[::1]:0"
    none = _config(registry={**redis, "link_listen": None})
    assert spec.apply(none).registry.link_listen is None

"""``wsgate serve --workers N`` as a user runs it: a supervisor process, its worker
processes on one port, a real Redis between them, real clients (websockets, boto3),
real signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import orjson
import pytest
import websockets

from tests.redis_support import REDIS_URL, delete_keys, require_redis, unique_prefix
from tests.server_support import free_port


ROOT = Path(__file__).parents[2]
READY = re.compile(r"(\d+) workers ready \(pids ([\d, ]+)\), sharing port (\d+)")


def write_config(folder: Path, registry: dict[str, Any] | None, **server: Any) -> Path:
    """A wsgate.yaml (JSON is YAML) with the worker handlers, on a port 0."""
    raw: dict[str, Any] = {
        "api": {"name": "workers", "stage": "dev"},
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_timeout": 5, **server},
        "handlers": {
            "path": str(ROOT),
            "environment": {"WORKERS_EVENTS": str(folder / "events.jsonl")},
        },
        "routes": {
            "$connect": "tests.e2e.worker_handlers:connect",
            "$disconnect": "tests.e2e.worker_handlers:disconnect",
            "whoami": {"handler": "tests.e2e.worker_handlers:whoami", "response": True},
            "postback": "tests.e2e.worker_handlers:postback",
        },
    }
    if registry is not None:
        raw["registry"] = registry
    path = folder / "wsgate.yaml"
    path.write_text(json.dumps(raw))
    return path


def redis_registry(prefix: str) -> dict[str, Any]:
    # A short lease: a killed worker's connections are handed over within seconds.
    return {"backend": "redis", "url": REDIS_URL, "prefix": prefix, "lease": 2.0}


def events(folder: Path, route: str) -> list[dict[str, Any]]:
    path = folder / "events.jsonl"
    if not path.exists():
        return []
    return [e for e in map(orjson.loads, path.read_bytes().splitlines()) if e["route"] == route]


@dataclass
class Supervised:
    """A running ``wsgate serve --workers``: its process and its log so far."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    port: int = 0
    pids: set[int] = field(default_factory=set)
    """The workers' pids at start."""

    async def line(self, pattern: str, after: int = 0, timeout: float = 30) -> re.Match[str]:
        """The first log line from index ``after`` on that matches ``pattern``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        exited = False
        while True:
            for text in self.lines[after:]:
                found = re.search(pattern, text)
                if found:
                    return found
            failed = exited or loop.time() > deadline
            assert not failed, f"no log line {pattern!r} in:\n" + "".join(self.lines)
            exited = self.process.returncode is not None  # one more look at what it wrote
            await asyncio.sleep(0.1)


async def _read(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for raw in stream:
        into.append(raw.decode(errors="replace"))


def _command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wsgate", "serve", "--config", str(config), *args]


@contextlib.asynccontextmanager
async def supervised(
    config: Path, *args: str, preexec: Callable[[], None] | None = None, ready: bool = True
) -> AsyncIterator[Supervised]:
    """Start ``wsgate serve --config config *args``; with ``ready``, once its workers are."""
    process = await asyncio.create_subprocess_exec(
        *_command(config, *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        preexec_fn=preexec,
    )
    assert process.stderr is not None
    running = Supervised(process)
    reader = asyncio.create_task(_read(process.stderr, running.lines))
    try:
        if ready:
            found = await running.line(READY.pattern, timeout=45)
            running.port = int(found[3])
            running.pids = {int(pid) for pid in found[2].split(", ")}
        yield running
    finally:
        if process.returncode is None:
            process.kill()  # its workers see the supervisor gone and stop
        await process.wait()
        await asyncio.wait_for(reader, 30)


async def whoami(port: int) -> tuple[Any, int, str]:
    """A new connection, the pid of the worker holding it, and its connectionId."""
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/dev")
    await ws.send('{"action": "whoami"}')
    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    return ws, int(reply["pid"]), str(reply["cid"])


async def spread(port: int, each: int = 3, most: int = 80) -> dict[int, list[tuple[Any, str]]]:
    """Open connections until two workers hold at least ``each``; (ws, connectionId) by pid."""
    held: dict[int, list[tuple[Any, str]]] = {}
    for _ in range(most):
        ws, pid, cid = await whoami(port)
        held.setdefault(pid, []).append((ws, cid))
        if len(held) >= 2 and all(len(conns) >= each for conns in held.values()):
            return held
    raise AssertionError(f"the connections did not spread: {[len(c) for c in held.values()]}")


def management_client(port: int) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"http://127.0.0.1:{port}/dev",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


async def close_all(held: dict[int, list[tuple[Any, str]]]) -> None:
    for conns in held.values():
        for ws, _cid in conns:
            with contextlib.suppress(Exception):
                await ws.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    name = unique_prefix().rstrip(":")
    yield name
    asyncio.run(delete_keys(name))


# --- one API on every worker ------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("link", ["default", "fixed port", "none"])
async def test_a_management_call_on_the_port_reaches_the_connections_of_every_worker(
    tmp_path: Path, prefix: str, link: str
) -> None:
    """Connections land on both workers; one boto3 client posts to each of them through
    the shared port. Its calls ride kept-alive connections, each answered by one worker,
    so the connections of the other are reached through the registry: over the node link
    (each worker's on a port of its own, also when ``link_listen`` names one: that port
    plus the worker's index), or through Redis alone without a link."""
    registry = redis_registry(prefix)
    if link == "fixed port":
        registry["link_listen"] = f"127.0.0.1:{free_port()}"
    elif link == "none":
        registry["link_listen"] = None
    config = write_config(tmp_path, registry)
    async with supervised(config, "--workers", "2") as gateway:
        held = await spread(gateway.port)
        try:
            assert set(held) == gateway.pids
            client = management_client(gateway.port)
            for conns in held.values():
                for ws, cid in conns:
                    for n in range(3):
                        data = f"to {cid} #{n}"
                        await asyncio.to_thread(
                            client.post_to_connection, ConnectionId=cid, Data=data.encode()
                        )
                        assert await asyncio.wait_for(ws.recv(), 10) == data
                    info = await asyncio.to_thread(client.get_connection, ConnectionId=cid)
                    assert info["Identity"]["SourceIp"] == "127.0.0.1"
            # Fresh clients too: new TCP connections, spread by the kernel like any other.
            for conns in held.values():
                ws, cid = conns[0]
                fresh = management_client(gateway.port)
                await asyncio.to_thread(fresh.post_to_connection, ConnectionId=cid, Data=b"fresh")
                assert await asyncio.wait_for(ws.recv(), 10) == "fresh"
        finally:
            await close_all(held)


@pytest.mark.timeout(120)
async def test_a_worker_killed_is_started_again_and_serves(tmp_path: Path, prefix: str) -> None:
    """SIGKILL to one worker: its clients lose their connection, and get their
    ``$disconnect`` from a surviving worker once the lease lapsed; the supervisor starts
    another after its backoff, new connections reach it, the survivor's stay served."""
    config = write_config(tmp_path, redis_registry(prefix))
    async with supervised(config, "--workers", "2") as gateway:
        held = await spread(gateway.port)
        victim, survivor = sorted(held)
        mark = len(gateway.lines)
        os.kill(victim, signal.SIGKILL)
        try:
            for ws, _cid in held[victim]:
                await asyncio.wait_for(ws.wait_closed(), 10)
                assert ws.close_code == 1006
            await gateway.line(rf"worker \d \(pid {victim}\) killed by SIGKILL", after=mark)
            started = await gateway.line(r"worker \d started \(pid (\d+)\)", after=mark)
            replacement = int(started[1])
            assert replacement not in (victim, survivor)

            fresh: dict[int, list[tuple[Any, str]]] = {}
            for _ in range(120):
                ws, pid, cid = await whoami(gateway.port)
                fresh.setdefault(pid, []).append((ws, cid))
                if replacement in fresh:
                    break
                await asyncio.sleep(0.05)  # until the new worker listens
            assert set(fresh) <= {survivor, replacement}
            assert replacement in fresh, "no new connection reached the new worker"
            held[replacement] = fresh.pop(replacement)
            held.setdefault(survivor, []).extend(fresh.pop(survivor, []))

            client = management_client(gateway.port)
            for pid in (survivor, replacement):
                ws, cid = held[pid][0]
                await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b"hi")
                assert await asyncio.wait_for(ws.recv(), 10) == "hi"

            lost = {cid for _ws, cid in held[victim]}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while {e["cid"] for e in events(tmp_path, "$disconnect")} < lost:
                assert loop.time() < deadline, "the lost connections got no $disconnect"
                await asyncio.sleep(0.1)
            disconnects = [e for e in events(tmp_path, "$disconnect") if e["cid"] in lost]
            assert len(disconnects) == len(lost)  # once each
            assert {e["pid"] for e in disconnects} <= {survivor, replacement}
        finally:
            await close_all(held)


@pytest.mark.timeout(120)
async def test_sigterm_drains_every_worker_and_exits_0(tmp_path: Path, prefix: str) -> None:
    """SIGTERM to the supervisor: every client gets a 1001 close frame, every connection's
    ``$disconnect`` runs once, in the worker that held it, and the supervisor exits 0."""
    config = write_config(tmp_path, redis_registry(prefix))
    async with supervised(config, "--workers", "2") as gateway:
        held = await spread(gateway.port)
        connections = [conn for conns in held.values() for conn in conns]
        owner = {cid: pid for pid, conns in held.items() for _ws, cid in conns}
        gateway.process.send_signal(signal.SIGTERM)
        for ws, _cid in connections:
            await asyncio.wait_for(ws.wait_closed(), 15)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(gateway.process.wait(), 30) == 0
        disconnects = events(tmp_path, "$disconnect")
        assert sorted(e["cid"] for e in disconnects) == sorted(owner)
        assert all(owner[e["cid"]] == e["pid"] for e in disconnects)
        assert len(events(tmp_path, "$connect")) == len(owner)
        for pid in gateway.pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


@pytest.mark.timeout(120)
async def test_the_workers_stop_when_their_supervisor_is_killed(
    tmp_path: Path, prefix: str
) -> None:
    """SIGKILL to the supervisor: each worker reads EOF on its link and shuts down as on
    SIGTERM (1001 to its clients), so none keeps the port."""
    config = write_config(tmp_path, redis_registry(prefix))
    async with supervised(config, "--workers", "2") as gateway:
        held = await spread(gateway.port, each=1)
        gateway.process.kill()
        for conns in held.values():
            for ws, _cid in conns:
                await asyncio.wait_for(ws.wait_closed(), 15)
                assert ws.close_code == 1001
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while any(_alive(pid) for pid in gateway.pids):
            assert loop.time() < deadline, "a worker outlived its supervisor"
            await asyncio.sleep(0.1)


def _alive(pid: int) -> bool:
    # The workers are the supervisor's children: once it is gone, init reaps them.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- refusals ----------------------------------------------------------------------------


def test_the_memory_registry_refuses_several_workers(tmp_path: Path) -> None:
    config = write_config(tmp_path, None)
    done = subprocess.run(
        _command(config, "--workers", "2"), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--workers 2 needs the redis registry" in done.stderr
    assert "backend: redis" in done.stderr and "url: redis://" in done.stderr
    assert "started" not in done.stderr  # no worker was


def test_workers_that_cannot_start_make_the_supervisor_fail(tmp_path: Path, prefix: str) -> None:
    """A handler that does not import: each worker exits 2 before it is ready, and so does
    the supervisor, the other worker stopped."""
    config = write_config(tmp_path, redis_registry(prefix))
    config.write_text(config.read_text().replace("worker_handlers:whoami", "nowhere:whoami"))
    done = subprocess.run(
        _command(config, "--workers", "2"), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "exited before it was ready (exited with 2)" in done.stderr
    assert "cannot import module 'tests.e2e.nowhere'" in done.stderr


def test_a_port_taken_by_another_program_is_refused_at_start(tmp_path: Path, prefix: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, redis_registry(prefix), port=port)
        done = subprocess.run(
            _command(config, "--workers", "2"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"server.port 127.0.0.1:{port}: Address already in use" in done.stderr


# --- --workers auto ----------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_auto_starts_one_worker_per_core_it_may_use(tmp_path: Path, prefix: str) -> None:
    """``auto`` counts the cores of the process's affinity: two cores, two workers."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("one core: auto means one process (the test below)")
    two = set(cores[:2])
    config = write_config(tmp_path, redis_registry(prefix))
    async with supervised(
        config, "--workers", "auto", preexec=lambda: os.sched_setaffinity(0, two)
    ) as gateway:
        assert len(gateway.pids) == 2
        held = await spread(gateway.port, each=1)
        await close_all(held)


async def test_auto_on_one_core_serves_in_one_process(tmp_path: Path) -> None:
    """One core: ``auto`` is 1, the gateway of today (no supervisor; the memory registry
    is fine)."""
    core = min(os.sched_getaffinity(0))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, None, port=port)
    async with supervised(
        config, "--workers", "auto", preexec=lambda: os.sched_setaffinity(0, {core}), ready=False
    ) as gateway:
        await gateway.line(rf"ws://127.0.0.1:{port}/dev")
        ws, pid, _cid = await whoami(port)
        assert pid == gateway.process.pid
        await ws.close()
        assert not any("supervisor" in line for line in gateway.lines)
        gateway.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.process.wait(), 30) == 0


# --- the other listeners -----------------------------------------------------------------


def _two_free_ports() -> int:
    """A port P with P + 1 free too (admin.listen: one per worker)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return int(port)
    raise AssertionError("no two free ports in a row")


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    answer = (await reader.read()).decode()
    writer.close()
    head, _, body = answer.partition("\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.timeout(120)
async def test_handlers_calls_over_https_on_the_plain_port_verify_on_every_worker(
    tmp_path: Path, prefix: str
) -> None:
    """With no TLS listener, the plain port speaks TLS with the gateway's own certificate
    (``local_tls``); a handler whose boto3 calls go over the network (``handlers.
    in_process_management: false``) may reach either worker, and must trust both: the
    supervisor makes the one certificate every worker presents and every handler trusts."""
    config = write_config(tmp_path, redis_registry(prefix))
    raw = json.loads(config.read_text())
    raw["handlers"]["in_process_management"] = False
    config.write_text(json.dumps(raw))
    async with supervised(config, "--workers", "2") as gateway:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        certificates = set()
        for _ in range(12):
            _reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port, ssl=context)
            certificates.add(writer.get_extra_info("ssl_object").getpeercert(True))
            writer.close()
        assert len(certificates) == 1
        held = await spread(gateway.port, each=2)
        try:
            for conns in held.values():
                for ws, cid in conns:
                    for n in range(3):
                        data = f"back to {cid} #{n}"
                        await ws.send(json.dumps({"action": "postback", "data": data}))
                        assert await asyncio.wait_for(ws.recv(), 20) == data
        finally:
            await close_all(held)


@pytest.mark.timeout(120)
async def test_tls_and_management_ports_are_shared_and_admin_ports_are_per_worker(
    tmp_path: Path, prefix: str
) -> None:
    """Every worker presents the one certificate the supervisor made on the shared TLS
    port, answers management calls on the shared ``management.listen`` port, and has an
    admin listener of its own (``admin.listen``'s port plus its index) whose
    ``/metrics`` counts its own connections only."""
    admin = _two_free_ports()
    config = write_config(tmp_path, redis_registry(prefix), tls_port=0)
    raw = json.loads(config.read_text())
    raw["management"] = {"listen": "127.0.0.1:0"}
    raw["admin"] = {"listen": f"127.0.0.1:{admin}"}
    config.write_text(json.dumps(raw))
    async with supervised(config, "--workers", "2") as gateway:
        tls_port = int((await gateway.line(r"wss://127\.0\.0\.1:(\d+)/dev"))[1])
        listen = int((await gateway.line(r"management API only at http://127.0.0.1:(\d+)/"))[1])
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        certificates, pids, sockets = set(), set(), []
        try:
            for _ in range(60):
                ws = await websockets.connect(f"wss://127.0.0.1:{tls_port}/dev", ssl=context)
                sockets.append(ws)
                certificates.add(ws.transport.get_extra_info("ssl_object").getpeercert(True))
                await ws.send('{"action": "whoami"}')
                reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                pids.add(reply["pid"])
                if len(pids) == 2 and len(sockets) >= 6:
                    break
            assert pids == gateway.pids
            assert len(certificates) == 1

            client = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=f"http://127.0.0.1:{listen}/dev",
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            for ws in sockets:
                cid = (await _ask_whoami(ws))["cid"]
                await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b"m")
                assert await asyncio.wait_for(ws.recv(), 10) == "m"

            open_by_port = {}
            for port in (admin, admin + 1):
                assert (await _get(port, "/health"))[0] == 200
                status, metrics = await _get(port, "/metrics")
                assert status == 200
                found = re.search(r'^wsgate_connections_open\{stage="dev"\} (\S+)$', metrics, re.M)
                assert found is not None
                open_by_port[port] = float(found[1])
            assert sum(open_by_port.values()) == len(sockets)
            assert all(count > 0 for count in open_by_port.values())
        finally:
            for ws in sockets:
                with contextlib.suppress(Exception):
                    await ws.close()


async def _ask_whoami(ws: Any) -> dict[str, Any]:
    await ws.send('{"action": "whoami"}')
    reply: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    return reply

"""The workers' preloads send the gateway's AWS-style name to the gateway, and nothing else:
Python's (``preload/awslambdaric_main.py``, a ``getaddrinfo`` wrapper) and Node's
(``runtimes/node/execute-api.cjs``, a ``tls.connect`` wrapper)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from typing import Any

import pytest

from wsgate.workers import endpoints
from wsgate.workers.preload.awslambdaric_main import VARIABLE, parse_table, redirect
from wsgate.workers.runtimes import node_runtime_dir


OURS = "abcde12345.execute-api.eu-west-1.amazonaws.com"
TABLE = {OURS: ("127.0.0.1", 8080), "fghij67890.execute-api.us-east-1.amazonaws.com": ("::1", 9)}


def test_the_table_is_written_and_read_alike() -> None:
    """IPv6 addresses in brackets; a malformed pair is left out; hosts in lower case."""
    value = endpoints.format_table(TABLE)
    assert value == (
        f"{OURS}=127.0.0.1:8080,fghij67890.execute-api.us-east-1.amazonaws.com=[::1]:9"
    )
    assert parse_table(value) == TABLE
    assert parse_table(f"{OURS.upper()}=127.0.0.1:8080,junk,x=,=1.2.3.4:5,y=h:port") == {
        OURS: ("127.0.0.1", 8080)
    }
    assert parse_table("") == {}


def test_published_names_reach_the_workers_variable() -> None:
    """publish and withdraw change what a worker started later is given; a withdraw by a
    gateway whose entry was replaced since leaves the new one."""
    endpoints.publish(OURS, "127.0.0.1", 1111)
    try:
        endpoints.publish(OURS, "127.0.0.1", 2222)
        endpoints.withdraw(OURS, "127.0.0.1", 1111)
        assert parse_table(endpoints.published())[OURS] == ("127.0.0.1", 2222)
    finally:
        endpoints.withdraw(OURS, "127.0.0.1", 2222)
    assert OURS not in parse_table(endpoints.published())
    assert endpoints.execute_api_host("AbCdE12345", "eu-west-1") == OURS


def test_python_resolves_only_the_gateways_names_on_443(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our host on 443 (as a number, a string or bytes) resolves to the gateway's address
    and port; another api id, another port, any other host is asked as it was."""
    asked: list[tuple[Any, ...]] = []

    def original(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append((host, port, *args))
        return []

    monkeypatch.setattr(socket, "getaddrinfo", original)
    redirect(TABLE)
    socket.getaddrinfo(OURS, 443, 0, socket.SOCK_STREAM)
    socket.getaddrinfo(OURS.upper() + ".", "443")
    socket.getaddrinfo(OURS.encode(), "https")
    socket.getaddrinfo(OURS, 8443)
    socket.getaddrinfo("zzzzz99999.execute-api.eu-west-1.amazonaws.com", 443)
    socket.getaddrinfo("example.com", 443)
    socket.getaddrinfo(None, 443)
    assert asked == [
        ("127.0.0.1", 8080, 0, socket.SOCK_STREAM),
        ("127.0.0.1", 8080),
        ("127.0.0.1", 8080),
        (OURS, 8443),
        ("zzzzz99999.execute-api.eu-west-1.amazonaws.com", 443),
        ("example.com", 443),
        (None, 443),
    ]


_NODE_SCRIPT = """
const tls = require("node:tls");
const seen = [];
tls.connect = (...args) => { seen.push(args.filter((a) => typeof a !== "function")); return null; };
require(process.argv[1]);
const ours = process.env.OURS;
tls.connect({ host: ours, port: 443 });
tls.connect({ host: ours.toUpperCase(), port: 443, servername: "kept" }, () => {});
tls.connect(443, ours, { rejectUnauthorized: true });
tls.connect({ host: ours, port: 8443 });
tls.connect({ host: "zzzzz99999.execute-api.eu-west-1.amazonaws.com", port: 443 });
tls.connect({ host: "example.com" });
tls.connect("/run/some.sock");
process.stdout.write(JSON.stringify(seen));
"""


def test_node_connects_only_the_gateways_names_on_443_elsewhere() -> None:
    """tls.connect to our host on 443 goes to the gateway's address and port with the
    host as server name, in either call form; every other call is passed on as made."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    preload = node_runtime_dir() / "execute-api.cjs"
    env = {VARIABLE: endpoints.format_table(TABLE), "OURS": OURS, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [node, "-e", _NODE_SCRIPT, str(preload)],
        env=env,
        capture_output=True,
        check=True,
        timeout=30,
    )
    seen = json.loads(done.stdout)
    redirected = {"host": "127.0.0.1", "port": 8080, "servername": OURS}
    assert seen == [
        [redirected],
        [{**redirected, "servername": "kept"}],
        [{"rejectUnauthorized": True, **redirected}],
        [{"host": OURS, "port": 8443}],
        [{"host": "zzzzz99999.execute-api.eu-west-1.amazonaws.com", "port": 443}],
        [{"host": "example.com"}],
        ["/run/some.sock"],
    ]

"""Servers the tests start as processes of their own (moto, redis-server): the program,
found or the test skipped; a free loopback port; the wait until the server answers; an
AWS client of one.

A missing program skips a test, except in CI (``CI`` set), where it fails: CI must run
every test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Skip the test for want of what ``message`` names; fail it in CI."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def program(name: str, missing: str | None = None) -> str:
    """The ``name`` program beside this Python (a virtual environment's scripts) or on
    ``PATH``; else ``unavailable`` (``missing``, or "no NAME on PATH")."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        unavailable(missing or f"no {name} on PATH")
    return found


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts(port: int) -> bool:
    """Something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    message: str,
    *,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Until ``ready()``; else fail with ``message`` after ``timeout`` seconds, or at once
    when ``process`` (the server) exits. ``log``, the server's output, ends the message."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            message = f"{message}: it exited with {process.returncode}"
        elif time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        raise AssertionError(message + (f"\n{log.read_text()}" if log is not None else ""))


def aws_client(service: str, url: str, **options: Any) -> Any:
    """A boto3 client of ``service`` at ``url``, in us-east-1 with test credentials."""
    import boto3  # only for the tests that use it: it takes a while to import

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        **options,
    )

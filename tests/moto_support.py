"""A real local AWS for the tests: moto's server (``moto_server``) on a free port.

Each test that needs one starts its own, so no table or item leaks between tests; it is
stopped with the test. moto's server is a dev dependency; without it a test is skipped,
except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from tests.server_support import accepts, aws_client, free_port, program, wait_until


START_TIMEOUT = 30.0
"""Seconds moto's server may take to answer (it imports every service's backend)."""


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Start moto's server on a free loopback port; its URL until the block ends."""
    found = program("moto_server", "moto_server is not installed (uv sync installs moto[server])")
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [found, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        message = "moto_server not listening"
        wait_until(partial(accepts, port), message, timeout=START_TIMEOUT, process=process, log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def dynamodb(url: str) -> Any:
    """A boto3 DynamoDB client of the moto server at ``url``."""
    return aws_client("dynamodb", url)

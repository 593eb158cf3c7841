"""The serverless-offline comparison judges only rates its baseline really reached.

serverless-offline's Python runner ends when a handler raises; the calls it is sent next
wait out the Lambda timeout with its core idle. Two guards: the benchmark's ``post_back``
handler lets a 410 pass (the load generator closes its connections with messages in
flight), and a baseline measured with its core mostly idle is not judged.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from benchmarks.compare import comparison_targets, stalled
from benchmarks.scenarios import Measurement
from botocore.exceptions import ClientError

from tests.http_app import serving


ROOT = Path(__file__).resolve().parent.parent


def _rate(server: str, value: float, cpu: float | None, unit: str = "msgs/s") -> Measurement:
    return Measurement(
        scenario="sls", server=server, conns=10, value=value, unit=unit, server_cpu=cpu
    )


def _figures(baseline_cpu: float) -> dict[str, dict[str, Measurement]]:
    ours = {
        "echo": _rate("wsgate", 50_000, 0.99),
        "postback": _rate("wsgate", 9_000, 0.99),
        "handshake": _rate("wsgate", 4_500, 0.99, "handshakes/s"),
        "memory": _rate("wsgate", 76, None, "MiB"),
    }
    theirs = {
        "echo": _rate("serverless-offline", 5_000, 0.98),
        "postback": _rate("serverless-offline", 2, baseline_cpu),
        "handshake": _rate("serverless-offline", 1_000, 0.99, "handshakes/s"),
        "memory": _rate("serverless-offline", 460, None, "MiB"),
    }
    return {"wsgate": ours, "serverless-offline": theirs}


def _target(targets: list[Any], starts: str) -> Any:
    return next(target for target in targets if target.name.startswith(starts))


def test_a_stalled_baseline_is_not_judged() -> None:
    floor = _rate("botocore alone", 12_000, None, "calls/s")
    floor.extra["us_per_call"] = 83.0
    targets = comparison_targets(_figures(baseline_cpu=0.0), floor, None)
    boto3 = _target(targets, "vs serverless-offline: boto3")
    assert boto3.measured is None
    assert boto3.verdict == "not measured"
    assert "serverless-offline stalled (0% of its core busy)" in boto3.detail
    # The other steps, whose baseline worked, are judged as before.
    route = _target(targets, "vs serverless-offline: two-way route round trips")
    assert route.measured == pytest.approx(10.0)
    assert route.verdict == "met"


def test_a_working_baseline_is_judged() -> None:
    floor = _rate("botocore alone", 12_000, None, "calls/s")
    floor.extra["us_per_call"] = 83.0
    figures = _figures(baseline_cpu=0.97)
    figures["serverless-offline"]["postback"].value = 500
    boto3 = _target(comparison_targets(figures, floor, None), "vs serverless-offline: boto3")
    assert boto3.measured == pytest.approx(18.0)
    assert boto3.verdict == "missed by 10%"
    assert "stalled" not in boto3.detail


@pytest.mark.parametrize(
    ("cpu", "unit", "expected"),
    [
        (0.0, "msgs/s", True),
        (0.49, "handshakes/s", True),
        (0.5, "msgs/s", False),
        (0.98, "msgs/s", False),
        (None, "msgs/s", False),
        (0.0, "MiB", False),
    ],
)
def test_stalled_reads_the_baselines_core(cpu: float | None, unit: str, expected: bool) -> None:
    assert stalled(_rate("serverless-offline", 100, cpu, unit)) is expected


def _handlers() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_handlers", ROOT / "benchmarks" / "apps" / "handlers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def answering(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[[int], None]]:
    """An HTTP server answering every ``POST /@connections/{id}`` with a bare status, as
    serverless-offline does for a connection that is gone; ``BENCH_MANAGEMENT_URL`` names
    it. The returned function sets the status."""
    status = [410]

    async def post(request: web.Request) -> web.Response:
        return web.Response(status=status[0])

    def set_status(code: int) -> None:
        status[0] = code

    app = web.Application()
    app.router.add_post("/@connections/{id}", post)
    async with serving(app) as port:
        monkeypatch.setenv("BENCH_MANAGEMENT_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bench")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield set_status


_EVENT = {"requestContext": {"connectionId": "AAAAAAAAAAAAAAA="}, "body": '{"action":"x"}'}


async def test_post_back_lets_a_gone_connection_pass(answering: Callable[[int], None]) -> None:
    handlers = _handlers()
    result = await asyncio.to_thread(handlers.post_back, _EVENT, None)
    assert result == {"statusCode": 200}


async def test_post_back_raises_any_other_refusal(answering: Callable[[int], None]) -> None:
    answering(403)
    handlers = _handlers()
    with pytest.raises(ClientError) as refused:
        await asyncio.to_thread(handlers.post_back, _EVENT, None)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

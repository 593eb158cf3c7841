"""``wsgate serve --config template.yaml`` / ``serverless.yml`` as a real process, its
functions in worker processes, talked to with a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets

from tests.e2e import project_process


FIXTURES = Path(__file__).parents[1] / "project" / "fixtures"

pytestmark = pytest.mark.timeout(90)


@dataclass
class Served(project_process.Served):
    """A served project whose functions append what they saw to ``record`` (JSON lines)."""

    record: Path = Path()

    def records(self) -> list[dict[str, object]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


async def _serve(folder: Path, config: str, *extra: str, record: Path) -> AsyncIterator[Served]:
    extra = ("--config", config, *extra)
    async with project_process.serve_project(folder, *extra, env={"RECORD": str(record)}) as it:
        yield Served(it.process, it.port, it.stage, it.log, record)


async def _records_of(served: Served, *routes: str) -> list[dict[str, object]]:
    async with asyncio.timeout(15):
        while not set(routes) <= {r["routeKey"] for r in served.records()}:
            await asyncio.sleep(0.05)
    return served.records()


@pytest.fixture
async def sam(tmp_path: Path) -> AsyncIterator[Served]:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-chat", folder)
    record = tmp_path / "record.jsonl"
    async for served in _serve(
        folder, "template.yaml", "--parameter-overrides", f"RecordFile={record}", record=record
    ):
        yield served


@pytest.fixture
async def sls(tmp_path: Path) -> AsyncIterator[Served]:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sls-chat", folder)
    record = tmp_path / "record.jsonl"
    async for served in _serve(folder, "serverless.yml", "--stage", "test", record=record):
        yield served


async def test_sam_template_serves_its_functions_in_workers(sam: Served) -> None:
    """The chat template's routes invoke its functions, each in a worker process."""
    assert sam.stage == "Dev"
    assert any("ConnectionsTable" in line and "not created" in line for line in sam.log)
    async with websockets.connect(sam.url()) as ws:
        await ws.send(json.dumps({"action": "sendmessage", "data": "hello"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert reply["echo"] == "hello"
    assert reply["greeting"] == "hi"
    assert reply["table"] == "arn:aws:dynamodb:us-east-1:123456789012:table/simplechat_connections"
    assert reply["pid"] != sam.process.pid
    records = await _records_of(sam, "$connect", "$disconnect")
    by_route = {r["routeKey"]: r for r in records}
    assert by_route["$connect"]["function"] == "OnConnectFunction"
    assert by_route["$disconnect"]["function"] == "OnDisconnectFunction"
    assert by_route["$connect"]["table"] == "simplechat_connections"
    assert {r["pid"] for r in records}.isdisjoint({sam.process.pid, reply["pid"]})


async def test_serverless_service_authorizes_and_answers(sls: Served) -> None:
    """The service's authorizer guards $connect; two-way routes answer; $default catches."""
    assert sls.stage == "test"
    assert await project_process.refused(sls.url("token=wrong")) == 401
    async with websockets.connect(sls.url("token=letmein")) as ws:
        await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        await ws.send("not json")
        fallback = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert reply["echo"] == "hi"
    assert reply["principal"] == "ann"
    assert reply["table"] == "slschat-test-connections"
    assert reply["color"] == "blue"
    assert reply["pid"] != sls.process.pid
    assert fallback == {"unknown": "not json"}
    records = await _records_of(sls, "$connect", "$disconnect")
    assert all(r["pid"] != sls.process.pid for r in records)

"""``wsgate serve`` with a SAM ``AWS::Serverless::WebSocketApi`` (samconfig.toml, --api,
inline code) and a serverless.yml with ``${param:}``, ``--var`` and ``--region``, as real
processes talked to with a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from tests.e2e.project_process import refused
from tests.e2e.test_project_import import FIXTURES, Served, _records_of, _serve


pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def sam(tmp_path: Path) -> AsyncIterator[Served]:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sam-wsapi", folder)
    record = tmp_path / "record.jsonl"
    async for served in _serve(
        folder,
        "template.yaml",
        "--api",
        "ChatApi",
        "--parameter-overrides",
        f"RecordFile={record}",
        record=record,
    ):
        yield served


async def test_sam_websocket_api_with_samconfig_and_inline_code(sam: Served) -> None:
    """The SAM API's authorizer, two-way route and inline $default function; samconfig's
    parameter, region and stack name reach the functions."""
    assert sam.stage == "live"
    assert any("Resources.AdminApi: another WebSocket API" in line for line in sam.log)
    assert await refused(sam.url("token=wrong")) == 403  # the policy denies
    async with websockets.connect(sam.url("token=letmein")) as ws:
        await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        await ws.send("free text")
        inline = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert reply == {
        "echo": "hi",
        "greeting": "hello-from-samconfig",
        "stack": "chat-stack",
        "region": "eu-central-1",
        "principal": "ann",
    }
    assert inline["inline"] == "free text"
    assert "/wsgate-inline-" in inline["file"] and inline["file"].endswith("/index.py")
    assert (inline["region"], inline["greeting"]) == ("eu-central-1", "hello-from-samconfig")
    records = await _records_of(sam, "$connect", "$disconnect")
    assert all(r["pid"] != sam.process.pid for r in records)


@pytest.fixture
async def sls(tmp_path: Path) -> AsyncIterator[Served]:
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sls-params", folder)
    async for served in _serve(
        folder,
        "serverless.yml",
        "--stage",
        "prod",
        "--param",
        "color=red",
        "--var",
        "ssm:/slsparams/prod/db-url=postgres://localhost/chat",
        "--region",
        "ap-south-1",
        record=tmp_path / "unused.jsonl",
    ):
        yield served


async def test_serverless_params_vars_and_region(sls: Served) -> None:
    """${param:} of the stage and of --param, --var's value, --region as AWS_REGION."""
    assert sls.stage == "prod"
    async with websockets.connect(sls.url()) as ws:
        await ws.send("ping")
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert reply == {
        "DOMAIN": "chat.example.com",
        "COLOR": "red",
        "DB_URL": "postgres://localhost/chat",
        "SEEN_REGION": "ap-south-1",
        "AWS_REGION": "ap-south-1",
        "body": "ping",
    }

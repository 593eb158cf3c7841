"""``wsgate serve`` in a folder with a serverless.yml and a wsgate.yaml importing it, with
``--env-file``: a real process, its functions in workers, a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import websockets

from tests.e2e.project_process import refused, serve_project


FIXTURES = Path(__file__).parents[1] / "project" / "fixtures"

pytestmark = pytest.mark.timeout(90)

WSGATE_YAML = """\
import: {path: serverless.yml, stage: '${env:LOCAL_STAGE}'}
server: {port: 0, tls_port: 0}
functions:
  sendMessage:
    environment:
      TABLE_NAME: table-from-wsgate-yaml
"""


async def test_wsgate_yaml_over_its_import_with_an_env_file(tmp_path: Path) -> None:
    """Stage from the env file through ${env:}, a function's variable from the wsgate.yaml,
    another from the env file over serverless.yml's; the import's authorizer still guards."""
    folder = tmp_path / "app"
    shutil.copytree(FIXTURES / "sls-chat", folder)
    (folder / "wsgate.yaml").write_text(WSGATE_YAML)
    (folder / ".env").write_text("LOCAL_STAGE=local\nSETTINGS_COLOR=green\n")
    unset = ("LOCAL_STAGE", "SETTINGS_COLOR", "RECORD")
    async with serve_project(folder, "--env-file", ".env", unset=unset) as served:
        assert served.stage == "local"
        assert "serving wsgate.yaml, the first of wsgate.yaml, serverless.yml" in served.text()
        assert await refused(served.url("token=wrong")) == 401
        async with websockets.connect(served.url("token=letmein")) as ws:
            await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert reply["echo"] == "hi"
        assert reply["table"] == "table-from-wsgate-yaml"
        assert reply["color"] == "green"
        assert reply["principal"] == "ann"
        assert reply["pid"] != served.process.pid

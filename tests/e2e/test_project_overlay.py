"""``wsgate serve`` in a folder with a serverless.yml and a wsgate.yaml importing it, with
``--env-file``: a real process, its functions in workers, a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus


FIXTURES = Path(__file__).parents[1] / "project" / "fixtures"
_LISTENING = re.compile(r"ws://127\.0\.0\.1:(\d+)/(\S+)")

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
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_CA_BUNDLE", "LOCAL_STAGE", "SETTINGS_COLOR", "RECORD"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsgate",
        "serve",
        "--env-file",
        ".env",
        cwd=folder,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not (found := _LISTENING.search(log[-1] if log else "")):
                line = (await process.stderr.readline()).decode()
                assert line, "wsgate exited:\n" + "".join(log)
                log.append(line)
        port, stage = int(found.group(1)), found.group(2)
        assert stage == "local"
        assert any(
            "serving wsgate.yaml, the first of wsgate.yaml, serverless.yml" in x for x in log
        )
        url = f"ws://127.0.0.1:{port}/{stage}"
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"{url}?token=wrong"):
                pass
        assert refused.value.response.status_code == 401
        async with websockets.connect(f"{url}?token=letmein") as ws:
            await ws.send(json.dumps({"action": "sendmessage", "data": "hi"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert reply["echo"] == "hi"
        assert reply["table"] == "table-from-wsgate-yaml"
        assert reply["color"] == "green"
        assert reply["principal"] == "ann"
        assert reply["pid"] != process.pid
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

"""The ``wsgate`` command as a user runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import signal
import textwrap
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e.project_process import serve_project
from wsgate.cli import main


HANDLERS = textwrap.dedent(
    """
    import os

    def disconnect(event, context):
        ctx = event["requestContext"]
        with open(os.environ["DISCONNECT_LOG"], "a") as log:
            log.write(f"{ctx['disconnectStatusCode']} {ctx['disconnectReason']}\\n")

    async def echo(event, context):
        return {"statusCode": 200, "body": event["body"]}
    """
)


def write_app(folder: Path) -> Path:
    (folder / "app_handlers.py").write_text(HANDLERS)
    config = folder / "wsgate.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            handlers:
              environment: {{DISCONNECT_LOG: "{folder / "disconnects.log"}"}}
            routes:
              $disconnect: app_handlers:disconnect
              $default: {{handler: app_handlers:echo, response: true}}
            """
        )
    )
    return config


def test_check_accepts_a_good_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_app(tmp_path)
    assert main(["check", "--config", str(config)]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_names_the_key_of_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wsgate.yaml"
    config.write_text("api:\n  idle_timeout: soon\n")
    assert main(["check", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "wsgate.yaml: api.idle_timeout:" in error


def test_check_names_a_handler_that_does_not_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wsgate.yaml"
    config.write_text("routes:\n  $default: no_such_module_here:handler\n")
    assert main(["check", "--config", str(config)]) == 2
    assert "cannot import module 'no_such_module_here'" in capsys.readouterr().err
    (tmp_path / "present.py").write_text("def other(event, context): pass\n")
    config.write_text("routes:\n  $default: present:handler\n")
    assert main(["check", "--config", str(config)]) == 2
    assert "has no attribute 'handler'" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serve_drains_on_a_stop_signal(tmp_path: Path, signum: signal.Signals) -> None:
    config = write_app(tmp_path)
    async with serve_project(tmp_path, "--config", str(config)) as served:
        ws = await websockets.connect(served.url())
        await ws.send("hello")
        assert await ws.recv() == "hello"
        served.process.send_signal(signum)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1001
        assert await asyncio.wait_for(served.process.wait(), 15) == 0
    assert (tmp_path / "disconnects.log").read_text() == "1001 Going away\n"

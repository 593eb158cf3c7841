"""A real gateway on free ports, a real ``websockets`` client and a real boto3 client."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from tests.e2e import handlers
from wsgate.config.model import GatewayConfig, RegistrySettings
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


HERE = Path(__file__).parent


@dataclass
class RunningGateway:
    server: GatewayServer
    stage: str

    @property
    def port(self) -> int:
        return self.server.port

    def ws_url(self, query: str = "") -> str:
        suffix = f"?{query}" if query else ""
        return f"ws://127.0.0.1:{self.server.port}/{self.stage}{suffix}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/{self.stage}"

    def management_client(self, **config: Any) -> Any:
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=self.management_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=botocore.config.Config(**config) if config else None,
        )

    async def call(self, method: str, **kwargs: Any) -> Any:
        """Call a management operation with boto3 in a thread (boto3 blocks)."""
        client = self.management_client(retries={"max_attempts": 1})
        return await asyncio.to_thread(getattr(client, method), **kwargs)


GatewayFactory = Callable[..., Any]

BASE_ROUTES: dict[str, Any] = {
    "$connect": "tests.e2e.handlers:connect",
    "$disconnect": "tests.e2e.handlers:disconnect",
    "$default": {"handler": "tests.e2e.handlers:default", "response": True},
    "echo": {"handler": "tests.e2e.handlers:echo", "response": True},
}


def make_config(
    routes: dict[str, Any] | None = None,
    authorizer: dict[str, Any] | None = None,
    **sections: dict[str, Any],
) -> GatewayConfig:
    raw: dict[str, Any] = {
        "api": {"name": "e2e", "stage": "dev", **sections.get("api", {})},
        "server": {"host": "127.0.0.1", "port": 0, "tls_port": 0, **sections.get("server", {})},
        "handlers": {"path": str(HERE.parent.parent), **sections.get("handlers", {})},
        "routes": BASE_ROUTES if routes is None else routes,
    }
    if authorizer is not None:
        raw["authorizer"] = authorizer
    # Any other section (functions, management, admin, registry) as it is given.
    raw.update({name: value for name, value in sections.items() if name not in raw})
    return GatewayConfig.model_validate(raw)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for the handlers' boto3 clients; nothing may look for real ones."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
async def gateway_factory() -> AsyncIterator[GatewayFactory]:
    """Start gateways with ``make_config`` arguments; all are stopped at the end."""
    handlers.EVENTS.clear()
    started: list[GatewayServer] = []

    async def start(**kwargs: Any) -> RunningGateway:
        config = make_config(**kwargs)
        server = GatewayServer(build_gateway(config))
        await server.start()
        started.append(server)
        return RunningGateway(server=server, stage=config.api.stage)

    try:
        yield start
    finally:
        for server in started:
            await server.stop()
        os.environ.pop("AWS_CA_BUNDLE", None)


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway with the base routes and no authorizer."""
    running: RunningGateway = await gateway_factory()
    return running


@asynccontextmanager
async def two_gateways(
    registry: RegistrySettings, config: GatewayConfig | None = None
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    """Gateways A and B in this process, each on ports of its own, sharing ``registry``
    (the rest of ``config``, ``make_config()``'s by default); stopped at the end."""
    config = (config or make_config()).model_copy(update={"registry": registry})
    handlers.EVENTS.clear()
    servers: list[GatewayServer] = []
    try:
        for _ in range(2):
            servers.append(GatewayServer(build_gateway(config)))
            await servers[-1].start()
        a, b = (RunningGateway(server, config.api.stage) for server in servers)
        yield a, b
    finally:
        for server in servers:
            await server.stop()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; fail the test if it does not within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)

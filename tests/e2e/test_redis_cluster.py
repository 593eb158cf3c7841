"""Two gateways on one Redis act as one API: a client connects to one, boto3 manages it
through the other. Real sockets, a real Redis, the real boto3 client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import websockets
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from tests.e2e import handlers
from tests.e2e.conftest import RunningGateway, make_config, two_gateways, wait_for
from tests.redis_support import (
    REDIS_URL,
    delete_keys,
    keys_under,
    redis_server,
    require_redis,
    start_redis,
    unique_prefix,
)
from tests.server_support import free_port
from wsgate.config.model import RegistrySettings
from wsgate.server import inprocess


@dataclass
class Cluster:
    """Gateways A and B on one Redis, under a key prefix of the test's own."""

    a: RunningGateway
    b: RunningGateway
    prefix: str

    async def connected(self, count: int) -> dict[str, Any]:
        """The ``count``-th $connect event, for a client that has had its 101.

        A gateway enters a connection in the Redis directory before its 101, so the entry
        is there already: every gateway reaches the connection from then on.
        """
        await wait_for(lambda: len(handlers.events_for("$connect")) >= count)
        event = handlers.events_for("$connect")[count - 1]
        entry = f":conn:{event['requestContext']['connectionId']}".encode()
        assert any(key.endswith(entry) for key in await keys_under(self.prefix))
        return event


@pytest.fixture(params=[False, True], ids=["over-http", "in-process"])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """Gateways A and B, in this process on ports of their own, sharing one Redis prefix.

    Over HTTP, boto3's calls reach B's listener; in process, B's in-process management
    answers them (``handlers.in_process_management``); either way B asks A over Redis.
    """
    require_redis()
    prefix = unique_prefix().rstrip(":")
    registry = RegistrySettings(backend="redis", url=REDIS_URL, prefix=prefix)
    config = make_config(handlers={"in_process_management": request.param})
    try:
        async with two_gateways(registry, config) as (a, b):
            yield Cluster(a, b, prefix)
    finally:
        await delete_keys(prefix)


async def test_a_connection_on_one_gateway_is_managed_through_the_other(
    cluster: Cluster,
) -> None:
    """POST, GET and DELETE @connections on B reach a client connected to A."""
    a, b = cluster.a, cluster.b
    served_before = inprocess.served_count()
    async with websockets.connect(a.ws_url(), user_agent_header="agent/7") as ws:
        event = await cluster.connected(1)
        connection_id = event["requestContext"]["connectionId"]
        response = await b.call("post_to_connection", ConnectionId=connection_id, Data=b"hello")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert await ws.recv() == "hello"
        await b.call("post_to_connection", ConnectionId=connection_id, Data="héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await b.call("post_to_connection", ConnectionId=connection_id, Data=b"\xff\x00\n\x01")
        assert await ws.recv() == b"\xff\x00\n\x01"

        info = await b.call("get_connection", ConnectionId=connection_id)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/7"}
        connected_at = event["requestContext"]["connectedAt"]
        assert int(info["ConnectedAt"].timestamp() * 1000) == connected_at

        response = await b.call("delete_connection", ConnectionId=connection_id)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1000

    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    disconnect = handlers.events_for("$disconnect")[0]["requestContext"]
    assert disconnect["disconnectStatusCode"] == 1000
    with pytest.raises(ClientError) as gone:
        await b.call("post_to_connection", ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    # Over HTTP nothing was served in process; in process every call was.
    in_process = b.server.gateway.config.handlers.in_process_management
    assert (inprocess.served_count() > served_before) == in_process


async def test_a_client_that_has_its_101_is_reachable_through_every_gateway(
    cluster: Cluster,
) -> None:
    """The directory entry is written before the 101, not after: with Redis holding every
    write for a while, the 101 waits for it, and the moment the client is connected the
    other gateway reaches it."""
    pauser = aioredis.Redis.from_url(REDIS_URL)
    try:
        await pauser.client_pause(300, all=False)  # writes only
        async with websockets.connect(cluster.a.ws_url()) as ws:
            event = await cluster.connected(1)  # asserts the entry is there already
            connection_id = event["requestContext"]["connectionId"]
            await cluster.b.call("post_to_connection", ConnectionId=connection_id, Data=b"hi")
            assert await ws.recv() == "hi"
    finally:
        await pauser.client_unpause()
        await pauser.aclose()


async def test_a_post_to_an_unknown_id_through_either_gateway_is_gone(cluster: Cluster) -> None:
    """410 GoneException, as AWS answers for an id no gateway has."""
    for gateway in (cluster.a, cluster.b):
        client = gateway.management_client(retries={"max_attempts": 1})
        with pytest.raises(client.exceptions.GoneException) as gone:
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId="Zm9vYmFyYmF6cXU=", Data=b"x"
            )
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


async def test_each_gateway_reaches_the_others_clients(cluster: Cluster) -> None:
    """Clients on both gateways; each gateway posts to the client on the other one."""
    a, b = cluster.a, cluster.b
    async with websockets.connect(a.ws_url()) as on_a:
        id_on_a = (await cluster.connected(1))["requestContext"]["connectionId"]
        async with websockets.connect(b.ws_url()) as on_b:
            id_on_b = (await cluster.connected(2))["requestContext"]["connectionId"]
            await a.call("post_to_connection", ConnectionId=id_on_b, Data=b"from a")
            await b.call("post_to_connection", ConnectionId=id_on_a, Data=b"from b")
            assert await on_b.recv() == "from a"
            assert await on_a.recv() == "from b"


def test_serve_names_a_redis_it_cannot_reach(tmp_path: Path) -> None:
    """``wsgate serve`` with an unreachable Redis exits 2 naming the URL."""
    config = tmp_path / "wsgate.yaml"
    config.write_text(
        textwrap.dedent(
            """
            server: {port: 0}
            registry: {backend: redis, url: "redis://127.0.0.1:1/0"}
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "wsgate", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )
    assert done.returncode == 2, done.stderr
    assert "wsgate: registry.url: cannot reach Redis at redis://127.0.0.1:1/0" in done.stderr


@pytest.mark.parametrize("link", [True, False], ids=["link", "no-link"])
@pytest.mark.parametrize("in_process", [False, True], ids=["over-http", "in-process"])
async def test_while_redis_is_away_calls_get_500_not_410(in_process: bool, link: bool) -> None:
    """A connection on another gateway may be alive while Redis is down: its calls answer
    500, which boto3 raises as a plain ClientError, never the 410 that makes apps forget
    the connection; once Redis is back they are answered again. Over the node link the
    owner answers for itself as long as it is sure of its lease (a lease after its last
    renewal at most): the 500s come after that."""
    program, port = redis_server(), free_port()
    redis = await start_redis(program, port)
    url = f"redis://127.0.0.1:{port}/0"
    registry = RegistrySettings(
        backend="redis", url=url, prefix="t", lease=2.0, link_listen="127.0.0.1:0" if link else None
    )
    config = make_config(handlers={"in_process_management": in_process})
    try:
        async with (
            two_gateways(registry, config) as (a, b),
            websockets.connect(a.ws_url()) as ws,
        ):
            await wait_for(lambda: bool(handlers.events_for("$connect")))
            connection_id = handlers.events_for("$connect")[0]["requestContext"]["connectionId"]

            async def posted(data: bytes) -> bool:
                try:
                    await b.call("post_to_connection", ConnectionId=connection_id, Data=data)
                except ClientError:
                    return False
                return True

            async def until(predicate: Callable[[], Awaitable[bool]]) -> None:
                deadline = asyncio.get_running_loop().time() + 10
                while not await predicate():
                    assert asyncio.get_running_loop().time() < deadline, "never answered"
                    await asyncio.sleep(0.02)

            # The directory entry follows the 101 by a round trip to Redis.
            await until(lambda: posted(b"before"))
            assert await ws.recv() == "before"
            redis.terminate()
            await redis.wait()
            if link:
                await asyncio.sleep(2.2)  # no renewal for a lease: the owner cannot vouch
            for operation, kwargs in (
                ("post_to_connection", {"Data": b"during"}),
                ("get_connection", {}),
                ("delete_connection", {}),
            ):
                with pytest.raises(ClientError) as failed:
                    await b.call(operation, ConnectionId=connection_id, **kwargs)
                response = failed.value.response
                assert response["Error"]["Code"] == "InternalServerErrorException", operation
                assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
            redis = await start_redis(program, port)

            await until(lambda: posted(b"after"))
            assert await ws.recv() == "after"
    finally:
        if redis.returncode is None:
            redis.kill()
            await redis.wait()

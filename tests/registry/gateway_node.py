"""A whole gateway on a Redis registry in a process of its own, for tests that kill one.

``python -m tests.registry.gateway_node REDIS_URL PREFIX LEASE [cluster]`` starts a
gateway on a free port with an authorizer, ``$connect``, ``$disconnect`` and ``$default``
routes, prints its port, then serves until it is killed. Its handlers append every event
they get to the file named by WSGATE_FAULT_EVENTS, one JSON line each, so the test sees
the events of every process.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson

from tests.e2e.conftest import make_config
from wsgate.config.model import RegistrySettings
from wsgate.registry.redis import RedisRegistry
from wsgate.server.gateway import build_gateway
from wsgate.server.runner import GatewayServer


def _record(event: dict[str, Any]) -> None:
    with open(os.environ["WSGATE_FAULT_EVENTS"], "ab") as events:
        events.write(orjson.dumps({"pid": os.getpid(), "event": event}) + b"\n")


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Allows everyone, with a context that ``$disconnect`` must carry."""
    return {
        "principalId": "user-123",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"tenant": event["queryStringParameters"].get("tenant", "")},
    }


def connect(event: dict[str, Any], context: Any) -> None:
    _record(event)


def disconnect(event: dict[str, Any], context: Any) -> None:
    _record(event)


def default(event: dict[str, Any], context: Any) -> None:
    _record(event)


async def serve(url: str, prefix: str, lease: float, cluster: bool) -> None:
    routes = {
        "$connect": "tests.registry.gateway_node:connect",
        "$disconnect": "tests.registry.gateway_node:disconnect",
        "$default": "tests.registry.gateway_node:default",
    }
    authorizer = {
        "type": "request",
        "handler": "tests.registry.gateway_node:authorizer",
        "identity_source": ["route.request.querystring.tenant"],
    }
    registry = RegistrySettings(
        backend="redis", url=url, cluster=cluster, prefix=prefix, lease=lease, reply_timeout=1.0
    )
    config = make_config(routes, authorizer).model_copy(update={"registry": registry})
    gateway = build_gateway(config)
    assert isinstance(gateway.registry, RedisRegistry)
    server = GatewayServer(gateway)  # its start hands the registry server.orphans' handler
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    url, prefix, lease = sys.argv[1:4]
    asyncio.run(serve(url, prefix, float(lease), sys.argv[4:5] == ["cluster"]))

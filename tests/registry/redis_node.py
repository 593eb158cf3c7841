"""A Redis registry node in a process of its own, for tests that kill or freeze a node.

``python -m tests.registry.redis_node URL single|cluster PREFIX LEASE CONNECTION_ID``
registers one connection, prints the node's id and the connection's, then serves until it
is killed. With ``TAGGED`` for the id, the connection gets an id the node made (it carries
the node's tag, so other nodes reach it over the node link).
"""

from __future__ import annotations

import asyncio
import sys

from tests.registry.contract import RecordingConnection
from wsgate.registry.redis import RedisRegistry


async def serve(url: str, cluster: bool, prefix: str, lease: float, connection_id: str) -> None:
    registry = RedisRegistry(url, cluster=cluster, prefix=prefix, lease=lease)
    await registry.start()
    if connection_id == "TAGGED":
        connection_id = registry.new_connection_id()
    await registry.register(RecordingConnection(connection_id))
    print(registry.node_id, connection_id, flush=True)
    await asyncio.Event().wait()  # until killed: no aclose, as when a machine dies


if __name__ == "__main__":
    url, kind, prefix, lease, connection_id = sys.argv[1:]
    asyncio.run(serve(url, kind == "cluster", prefix, float(lease), connection_id))

"""A throwaway aiohttp application on a real socket, for tests that need a real HTTP peer
(a JWKS endpoint, a foreign management endpoint, a recorder of management calls)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[int]:
    """Serve ``app`` on ``host`` (a free port unless ``port`` is given) until the block
    ends; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()

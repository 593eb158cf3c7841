"""Request bodies read with a cap, for the aiohttp endpoints (management, Runtime API)."""

from __future__ import annotations

from aiohttp import web


__all__ = ["read_capped"]


async def read_capped(request: web.Request, cap: int) -> bytes:
    """The whole body, or its first ``cap + 1`` bytes when it is longer than ``cap``: the
    caller refuses a body over the cap without holding more of it."""
    body = bytearray()
    while chunk := await request.content.read(cap + 1 - len(body)):
        body += chunk
        if len(body) > cap:
            break
    return bytes(body)

"""Typed keys for what the aiohttp application carries."""

from __future__ import annotations

from aiohttp import web

from wsgate.server.gateway import Gateway


__all__ = ["GATEWAY"]

GATEWAY = web.AppKey("wsgate.gateway", Gateway)

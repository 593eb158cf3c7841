"""Start and stop the gateway: listeners, TLS, signals, and a bounded drain.

The listening sockets are ours (``loop.create_server``): every connection meets the front
door (``server.frontdoor``) first, which hands aiohttp only what it does not answer
itself. aiohttp's ``AppRunner`` runs the application and its startup, shutdown and
cleanup hooks; it has no sites of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from wsgate.config.model import GatewayConfig
from wsgate.server import inprocess
from wsgate.server.app import create_app
from wsgate.server.frontdoor import FrontDoor
from wsgate.server.gateway import Gateway


if TYPE_CHECKING:
    import ssl

    from wsgate.server.tls import TlsFiles


__all__ = ["GatewayServer", "serve"]

log = logging.getLogger("wsgate")


def _default_credentials() -> None:
    """Give handlers' boto3 clients credentials to sign with when none are configured.

    The gateway does not check signatures, but botocore refuses to send unsigned requests,
    and without this it would go looking for instance credentials on the network.
    """
    configured = (
        os.environ.get("AWS_ACCESS_KEY_ID")
        or os.environ.get("AWS_PROFILE")
        or Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))
        .expanduser()
        .exists()
    )
    if not configured:
        os.environ["AWS_ACCESS_KEY_ID"] = "wsgate"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "wsgate"


class GatewayServer:
    """The gateway's listeners: plain HTTP/WS on ``server.port``, TLS on ``server.tls_port``."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._runner: web.AppRunner | None = None
        self._listeners: list[tuple[str, asyncio.Server]] = []
        """(scheme, server) per listening port, in the order they were bound."""
        self.port: int = 0
        self.tls_port: int | None = None
        self.tls_files: TlsFiles | None = None
        self._made: list[Path] = []
        """Files made at start (self-signed certificate, CA bundle), removed at stop."""
        self._ca_bundle_before: str | None = None

    async def start(self) -> None:
        """Bind the listeners and fix ``domainName`` from the ports actually bound."""
        config: GatewayConfig = self.gateway.config
        server = config.server
        _default_credentials()
        runner = web.AppRunner(
            create_app(self.gateway),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=server.shutdown_timeout,
            # How long a kept-alive management connection may sit idle.
            keepalive_timeout=config.api.handshake_timeout,
        )
        await runner.setup()
        self._runner = runner
        self.port = _bound_port(await self._listen(server.port, None))
        if server.tls_port is not None:
            # Imported only with a TLS listener: cryptography adds megabytes to the process.
            from wsgate.server.tls import (
                TlsFiles,
                make_self_signed,
                server_context,
                trust_for_handlers,
            )

            if server.tls_cert is not None and server.tls_key is not None:
                self.tls_files = TlsFiles(cert=server.tls_cert, key=server.tls_key)
            else:
                folder = Path(tempfile.mkdtemp(prefix="wsgate-tls-"))
                self.tls_files = make_self_signed(folder)
                self._ca_bundle_before = os.environ.get("AWS_CA_BUNDLE")
                bundle = trust_for_handlers(self.tls_files.cert)
                self._made += [bundle, self.tls_files.cert, self.tls_files.key, folder]
            secure = await self._listen(server.tls_port, server_context(self.tls_files))
            self.tls_port = _bound_port(secure)
        self.gateway.set_domain_name(server.resolved_domain_name(self.port, self.tls_port))
        if config.handlers.in_process_management:
            for scheme, listener in self._listeners:
                inprocess.add_listener(
                    self.gateway, scheme, _bound_port(listener), _bound_addresses(listener)
                )

    async def _listen(self, port: int, ssl_context: ssl.SSLContext | None) -> asyncio.Server:
        """Listen on ``server.host``:``port``; each connection meets the front door first."""
        assert self._runner is not None
        http = self._runner.server  # public: the aiohttp protocol factory, after setup()
        assert http is not None
        gateway = self.gateway
        settings = gateway.config.server
        scheme = "https" if ssl_context is not None else "http"

        def front_door() -> FrontDoor:
            return FrontDoor(gateway, http, scheme)

        listener = await asyncio.get_running_loop().create_server(
            front_door,
            settings.host,
            port,
            ssl=ssl_context,
            backlog=settings.backlog,
            reuse_address=True,
        )
        self._listeners.append((scheme, listener))
        return listener

    async def stop(self) -> None:
        """Stop accepting, close connections with 1001, run their ``$disconnect``, release.

        In this order: the listening sockets close (no new connection); the runner's
        cleanup then closes aiohttp's idle keep-alive connections, runs the shutdown hook
        (refuse handshakes, 1001 to every connection, wait for their ``$disconnect``
        within ``server.shutdown_timeout``), lets aiohttp's own requests finish and runs
        the cleanup hook (registry, authorizer, handler threads); only then does the
        in-process management path stop, since ``$disconnect`` handlers may still call.
        """
        if self._runner is not None:
            for _scheme, listener in self._listeners:
                listener.close()  # not wait_closed(): it would wait for every connection
            self._listeners = []
            try:
                await self._runner.cleanup()
            finally:
                # Only now: $disconnect handlers run during the drain may still call.
                inprocess.remove_gateway(self.gateway)
            self._runner = None
        if self._made:
            if self._ca_bundle_before is None:
                os.environ.pop("AWS_CA_BUNDLE", None)
            else:
                os.environ["AWS_CA_BUNDLE"] = self._ca_bundle_before
            for path in self._made:
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink(missing_ok=True)
            self._made = []


def _sockets(listener: asyncio.Server) -> list[socket.socket]:
    sockets = listener.sockets
    if not sockets:
        raise RuntimeError("the listener is not listening")
    return list(sockets)


def _bound_port(listener: asyncio.Server) -> int:
    """The port a listener is bound to (it differs from the config's when that was 0)."""
    return int(_sockets(listener)[0].getsockname()[1])


def _bound_addresses(listener: asyncio.Server) -> list[str]:
    """The addresses a listener's sockets are bound to (one per family for a name)."""
    return [str(sock.getsockname()[0]) for sock in _sockets(listener)]


async def serve(gateway: Gateway) -> int:
    """Run until SIGTERM or SIGINT, then drain within ``server.shutdown_timeout``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = GatewayServer(gateway)
    await server.start()
    api = gateway.api
    log.info(
        "wsgate %s: ws://%s:%d/%s", api.api_id, gateway.config.server.host, server.port, api.stage
    )
    if server.tls_port is not None:
        log.info(
            "wss://%s:%d/%s (management API at https://%s/%s/@connections)",
            gateway.config.server.host,
            server.tls_port,
            api.stage,
            api.domain_name,
            api.stage,
        )
    await stop.wait()
    log.info("shutting down: closing %d connection(s)", len(gateway.registry.local_connections()))
    await server.stop()
    return 0

"""Start and stop the gateway: listeners, TLS, signals, and a bounded drain."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wsgate.config.model import GatewayConfig
from wsgate.server import inprocess
from wsgate.server.app import create_app
from wsgate.server.frontdoor import FrontDoor
from wsgate.server.gateway import Gateway


if TYPE_CHECKING:
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


class _Site(web.TCPSite):
    """A TCP listener whose connections meet the front door before aiohttp."""

    __slots__ = ("_gateway",)

    def __init__(
        self,
        runner: web.AppRunner,
        gateway: Gateway,
        host: str,
        port: int,
        ssl_context: Any = None,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        self._gateway = gateway

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        http = self._runner.server
        assert http is not None
        gateway = self._gateway
        scheme = "https" if self._ssl_context is not None else "http"

        def front_door() -> FrontDoor:
            return FrontDoor(gateway, http, scheme)

        self._server = await asyncio.get_running_loop().create_server(
            front_door,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
        )


class GatewayServer:
    """The gateway's listeners: plain HTTP/WS on ``server.port``, TLS on ``server.tls_port``."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._runner: web.AppRunner | None = None
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
        plain = _Site(runner, self.gateway, server.host, server.port)
        await plain.start()
        self.port = _bound_port(plain)
        sites = [("http", plain)]
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
            secure = _Site(
                runner,
                self.gateway,
                server.host,
                server.tls_port,
                ssl_context=server_context(self.tls_files),
            )
            await secure.start()
            self.tls_port = _bound_port(secure)
            sites.append(("https", secure))
        self.gateway.set_domain_name(server.resolved_domain_name(self.port, self.tls_port))
        if config.handlers.in_process_management:
            for scheme, site in sites:
                inprocess.add_listener(
                    self.gateway, scheme, _bound_port(site), _bound_addresses(site)
                )

    async def stop(self) -> None:
        """Stop accepting, close connections with 1001, run their ``$disconnect``, release."""
        if self._runner is not None:
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


def _sockets(site: web.BaseSite) -> list[Any]:
    sockets = getattr(site._server, "sockets", None)
    if not sockets:
        raise RuntimeError(f"{site.name} is not listening")
    return list(sockets)


def _bound_port(site: web.BaseSite) -> int:
    """The port a site listens on (it differs from the config's when that was 0)."""
    return int(_sockets(site)[0].getsockname()[1])


def _bound_addresses(site: web.BaseSite) -> list[str]:
    """The addresses a site's sockets are bound to (one per family for a name)."""
    return [str(sock.getsockname()[0]) for sock in _sockets(site)]


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

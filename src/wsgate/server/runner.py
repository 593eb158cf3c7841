"""Start and stop the gateway: listeners, TLS, signals, and a bounded drain.

The listening sockets are ours (``loop.create_server``): every connection meets the front
door (``server.frontdoor``) first, which hands aiohttp only what it does not answer
itself. aiohttp's ``AppRunner`` runs the application and its startup, shutdown and
cleanup hooks; it has no sites of its own. With ``management.listen`` one more listener,
built the same way with an application of its own, serves the management API alone, and
the others refuse its calls; who may call on each is decided here, once, at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from wsgate.config.model import GatewayConfig
from wsgate.server import inprocess, local_names, local_tls
from wsgate.server.app import create_admin_app, create_app, create_management_app
from wsgate.server.credentials import default_credentials
from wsgate.server.frontdoor import FrontDoor
from wsgate.server.gateway import Gateway
from wsgate.server.management import NOT_SERVED, OPEN, ManagementAccess
from wsgate.server.observe.build import build_observer
from wsgate.server.sigv4 import KeyPair, SigV4Verifier
from wsgate.server.tls_sniff import TlsSniffer
from wsgate.workers.endpoints import execute_api_host


if TYPE_CHECKING:
    import ssl

    from wsgate.server.supervisor import WorkerLink
    from wsgate.server.tls import TlsFiles


__all__ = ["GatewayServer", "Watcher", "serve"]

log = logging.getLogger("wsgate")


"""The key id and secret handlers get when nothing is configured and nothing is checked."""


def _management_access(config: GatewayConfig) -> ManagementAccess:
    """The rules of the listeners serving the management API, from ``management``.

    With ``auth: sigv4`` the keys accepted are ``management.credentials`` and the
    gateway's own (what its handlers sign with), one line logged naming their ids.

    Raises:
        ConfigError: ``auth: sigv4`` without botocore installed.
    """
    settings = config.management
    own = default_credentials(settings.auth == "sigv4")
    origins = frozenset(settings.allowed_origins)
    if settings.auth != "sigv4":
        return ManagementAccess(allowed_origins=origins) if origins else OPEN
    keys = [
        KeyPair(
            credential.access_key_id,
            credential.secret_access_key.get_secret_value(),
            None
            if credential.session_token is None
            else credential.session_token.get_secret_value(),
        )
        for credential in settings.credentials
    ]
    if own is not None and all(key.access_key_id != own.access_key_id for key in keys):
        keys.append(own)
    verifier = SigV4Verifier(keys, config.api.region)
    log.info(
        "management API: SigV4 (execute-api, %s) from key ids %s%s",
        config.api.region,
        ", ".join(key.access_key_id for key in keys) or "none",
        " (the last is the gateway's own)" if own is not None and keys[-1] is own else "",
    )
    return ManagementAccess(verifier=verifier, allowed_origins=origins)


class GatewayServer:
    """The gateway's listeners: plain HTTP/WS on ``server.port``, TLS on ``server.tls_port``."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        reuse_port: bool = False,
        own_certificate: TlsFiles | None = None,
    ) -> None:
        self.gateway = gateway
        self.reuse_port = reuse_port
        """SO_REUSEPORT on the server and management ports: the workers of
        ``wsgate serve --workers`` share them (``server.supervisor``)."""
        self.own_certificate = own_certificate
        """The gateway's own certificate when another process made it (the supervisor, for
        all its workers); None: made at start when needed (``local_tls``)."""
        self._runner: web.AppRunner | None = None
        self._listeners: list[tuple[str, asyncio.Server]] = []
        """(scheme, server) per listening port, in the order they were bound."""
        self.port: int = 0
        self.tls_port: int | None = None
        self.tls_files: TlsFiles | None = None
        self.management_port: int | None = None
        """The ``management.listen`` listener's port once bound; None without one."""
        self._management_runner: web.AppRunner | None = None
        self.admin_port: int | None = None
        """The ``admin.listen`` listener's port (``/metrics``, ``/health``); None without."""
        self._admin_runner: web.AppRunner | None = None
        self._made: list[Path] = []
        """Files made at start (self-signed certificate, CA bundle), removed at stop."""
        self._ca_bundle_before: str | None = None
        self._names: local_names.Published | None = None
        """The gateway's names as handlers and workers were given them (``local_names``)."""

    async def start(self) -> None:
        """Bind the listeners and fix ``domainName`` from the ports actually bound."""
        config: GatewayConfig = self.gateway.config
        server = config.server
        access = _management_access(config)
        observer = self.gateway.dispatcher.observer = build_observer(self.gateway)
        listen = config.management.listen_address()
        public = access if listen is None else NOT_SERVED
        runner = web.AppRunner(
            create_app(self.gateway, public),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=server.shutdown_timeout,
            # How long a kept-alive connection may sit idle, or take over its next head
            # (aiohttp has no timeout of its own for a body: server.frontdoor watches).
            keepalive_timeout=server.request_timeout,
        )
        await runner.setup()
        self._runner = runner
        local = None
        if local_tls.wanted(config) and self.own_certificate is not None:
            local = local_tls.adopt_certificate(self.own_certificate)
        elif local_tls.wanted(config):
            api = self.gateway.api
            local = local_tls.make_local_certificate(
                local_tls.certificate_names(config, execute_api_host(api.api_id, api.region))
            )
            self._ca_bundle_before = local.ca_bundle_before
            self._made += local.made
        sniff = local if local is not None and local_tls.on_plain_port(config) else None
        plain = await self._listen(server.port, None, public, sniff=sniff)
        self.port = _bound_port(plain)
        if server.tls_port is not None:
            # Imported only with a TLS listener: cryptography adds megabytes to the process.
            from wsgate.server.tls import TlsFiles, server_context

            if server.tls_cert is not None and server.tls_key is not None:
                self.tls_files = TlsFiles(cert=server.tls_cert, key=server.tls_key)
            else:
                assert local is not None  # local_tls.wanted: a self-signed listener
                self.tls_files = local.files
            secure = await self._listen(server.tls_port, server_context(self.tls_files), public)
            self.tls_port = _bound_port(secure)
        if listen is not None:
            await self._listen_for_management(*listen, access)
        self.gateway.set_domain_name(server.resolved_domain_name(self.port, self.tls_port))
        if observer is not None:
            observer.set_api(self.gateway.api)
        admin = config.admin.listen_address()
        if admin is not None:
            await self._listen_for_admin(*admin)
        if config.handlers.in_process_management:
            for scheme, listener in self._listeners:
                inprocess.add_listener(
                    self.gateway, scheme, _bound_port(listener), _bound_addresses(listener)
                )
        # Where the gateway's certificate is served: the AWS-style name leads there.
        own_tls = self.port if sniff is not None else self.tls_port if local is not None else None
        self._names = local_names.publish(
            self.gateway, self.port, _bound_addresses(plain), own_tls=own_tls
        )

    async def _listen_for_management(self, host: str, port: int, access: ManagementAccess) -> None:
        """Serve the management API alone on ``management.listen``, over http."""
        config = self.gateway.config
        runner = web.AppRunner(
            create_management_app(self.gateway, access),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=config.server.shutdown_timeout,
            keepalive_timeout=config.server.request_timeout,
        )
        await runner.setup()
        self._management_runner = runner
        listener = await self._listen(port, None, access, host=host, runner=runner)
        self.management_port = _bound_port(listener)

    async def _listen_for_admin(self, host: str, port: int) -> None:
        """Serve ``/metrics`` and ``/health`` on ``admin.listen``: aiohttp's own listener,
        no front door (no upgrade, no management call is ever served there)."""
        runner = web.AppRunner(
            create_admin_app(self.gateway), handle_signals=False, access_log=None
        )
        await runner.setup()
        self._admin_runner = runner
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self.admin_port = int(runner.addresses[0][1])

    async def _listen(
        self,
        port: int,
        ssl_context: ssl.SSLContext | None,
        access: ManagementAccess,
        *,
        host: str | None = None,
        runner: web.AppRunner | None = None,
        sniff: local_tls.LocalCertificate | None = None,
    ) -> asyncio.Server:
        """Listen on ``host`` (``server.host``) :``port``; each connection meets the front
        door first. With a ``runner`` of its own, the listener serves that application and
        starts no handshake (``management.listen``). With ``sniff``, a connection that
        opens with a TLS handshake gets TLS with that certificate (``tls_sniff``)."""
        upgrades = runner is None
        runner = runner or self._runner
        assert runner is not None
        http = runner.server  # public: the aiohttp protocol factory, after setup()
        assert http is not None
        gateway = self.gateway
        settings = gateway.config.server
        scheme = "https" if ssl_context is not None else "http"

        def front_door(scheme: str = scheme) -> FrontDoor:
            return FrontDoor(gateway, http, scheme, access, upgrades=upgrades)

        factory: Callable[[], asyncio.Protocol] = front_door
        if sniff is not None:
            context, timeout = sniff.context, settings.request_timeout

            def factory() -> asyncio.Protocol:
                return TlsSniffer(front_door, lambda: front_door("https"), context, timeout)

        listener = await asyncio.get_running_loop().create_server(
            factory,
            settings.host if host is None else host,
            port,
            ssl=ssl_context,
            backlog=settings.backlog,
            reuse_address=True,
            reuse_port=self.reuse_port,
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
                if self._management_runner is not None:
                    await self._management_runner.cleanup()
                if self._admin_runner is not None:  # after the drain: /health said 503
                    await self._admin_runner.cleanup()
            finally:
                # Only now: $disconnect handlers run during the drain may still call.
                inprocess.remove_gateway(self.gateway)
                if self._names is not None:
                    self._names.withdraw()
                    self._names = None
            self._runner = None
            self._management_runner = None
            self._admin_runner = None
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


class Watcher(Protocol):
    """Something that runs beside the listeners (hot reload: ``server.reload``)."""

    async def start(self) -> None:
        """Begin, once the gateway listens."""
        ...

    async def stop(self) -> None:
        """End, before the connections are drained."""
        ...


async def serve(
    gateway: Gateway,
    link: WorkerLink | None = None,
    own_certificate: TlsFiles | None = None,
    watcher: Watcher | None = None,
) -> int:
    """Run until SIGTERM or SIGINT, then drain within ``server.shutdown_timeout``.

    With a ``link``, as a worker of ``wsgate serve --workers``: the ports are shared, the
    supervisor is told once they listen, and its death stops the worker as SIGTERM would;
    ``own_certificate`` is the one the supervisor made for every worker. A ``watcher``
    starts once the gateway listens and stops before it drains (no reload mid-drain).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = GatewayServer(gateway, reuse_port=link is not None, own_certificate=own_certificate)
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
    listen = gateway.config.management.listen_address()
    if listen is not None and server.management_port is not None:
        log.info(
            "management API only at http://%s:%d/%s/@connections",
            listen[0],
            server.management_port,
            api.stage,
        )
    admin = gateway.config.admin.listen_address()
    if admin is not None and server.admin_port is not None:
        log.info("admin: http://%s:%d/metrics and /health", admin[0], server.admin_port)
    if link is not None:
        link.ready()
        link.watch(stop.set)
    if watcher is not None:
        await watcher.start()
    await stop.wait()
    if watcher is not None:
        await watcher.stop()
    log.info("shutting down: closing %d connection(s)", len(gateway.registry.local_connections()))
    await server.stop()
    return 0

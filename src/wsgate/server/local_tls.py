"""The gateway's own certificate, for the self-signed listener or TLS on the plain port.

Made at start when something on this machine may call the gateway over https with the
trust it is given: function workers (``AWS_CA_BUNDLE`` and ``NODE_EXTRA_CA_CERTS``),
in-process handlers whose calls go over HTTP (``handlers.in_process_management:
false``), and the TLS listener without a certificate of its own. It names ``localhost``,
127.0.0.1, ::1, the host of ``server.domain_name`` and the AWS-style
``{apiId}.execute-api.{region}.amazonaws.com``, so that both endpoint forms verify. A
gateway with none of these never imports ``cryptography`` (megabytes in the process).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from wsgate.config.model import GatewayConfig


if TYPE_CHECKING:
    from wsgate.server.tls import TlsFiles


__all__ = [
    "LocalCertificate",
    "adopt_certificate",
    "certificate_names",
    "make_local_certificate",
    "on_plain_port",
    "wanted",
]


@dataclass(frozen=True, slots=True)
class LocalCertificate:
    """A certificate made at start, the context serving it, and what to undo at stop."""

    files: TlsFiles
    context: ssl.SSLContext
    made: tuple[Path, ...]
    """The files and folder written (the CA bundle among them), to remove at stop."""
    ca_bundle_before: str | None
    """``AWS_CA_BUNDLE`` before it named the bundle that trusts this certificate."""


def wanted(config: GatewayConfig) -> bool:
    """Whether the gateway needs a certificate of its own (see the module's docstring)."""
    server = config.server
    self_signed = server.tls_port is not None and server.tls_cert is None
    return self_signed or bool(config.functions) or not config.handlers.in_process_management


def on_plain_port(config: GatewayConfig) -> bool:
    """Whether the plain port speaks TLS with the certificate: when there is no TLS listener
    for ``https://{domainName}``, or its certificate is the user's, which does not name
    the AWS-style host. A self-signed listener serves both names itself."""
    server = config.server
    return wanted(config) and (server.tls_port is None or server.tls_cert is not None)


def certificate_names(config: GatewayConfig, execute_api_host: str) -> tuple[str, ...]:
    """The DNS names the certificate holds (the loopback addresses are always in)."""
    names = ["localhost"]
    domain = config.server.domain_name
    host = urlsplit(f"//{domain}").hostname if domain else None
    if host and host not in names:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            names.append(host)
    names.append(execute_api_host)
    return tuple(names)


def make_local_certificate(names: tuple[str, ...]) -> LocalCertificate:
    """Write a self-signed certificate for ``names`` and point ``AWS_CA_BUNDLE`` at a bundle
    that trusts it besides what was trusted before (workers inherit both variables)."""
    # Imported only here: cryptography adds megabytes to the process.
    from wsgate.server.tls import make_self_signed, server_context, trust_for_handlers

    folder = Path(tempfile.mkdtemp(prefix="wsgate-tls-"))
    files = make_self_signed(folder, names)
    before = os.environ.get("AWS_CA_BUNDLE")
    bundle = trust_for_handlers(files.cert)
    return LocalCertificate(
        files=files,
        context=server_context(files),
        made=(bundle, files.cert, files.key, folder),
        ca_bundle_before=before,
    )


def adopt_certificate(files: TlsFiles) -> LocalCertificate:
    """A certificate made by another process (the supervisor of ``--workers``) that this one
    serves too: ``AWS_CA_BUNDLE``, inherited, already trusts it; nothing to remove at stop."""
    from wsgate.server.tls import server_context

    before = os.environ.get("AWS_CA_BUNDLE")
    return LocalCertificate(
        files=files, context=server_context(files), made=(), ca_bundle_before=before
    )

"""TLS for the second listener, so handlers' boto3 clients can use ``https://{domainName}``.

With no certificate configured, a self-signed one for localhost is made at start, and
``AWS_CA_BUNDLE`` points in-process handlers at a bundle holding botocore's usual CAs plus
that certificate: calls to the gateway verify, and calls to real AWS still do.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


__all__ = ["TlsFiles", "make_self_signed", "server_context", "trust_for_handlers"]

log = logging.getLogger("wsgate.tls")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A PEM certificate chain and its private key."""

    cert: Path
    key: Path


def make_self_signed(folder: Path, hostnames: tuple[str, ...] = ("localhost",)) -> TlsFiles:
    """Write a fresh self-signed certificate for ``hostnames``, 127.0.0.1 and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(host) for host in hostnames]
    alt_names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(cert=folder / "wsgate-cert.pem", key=folder / "wsgate-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(files.key, 0o600)
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side TLS context for ``files``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


def _default_ca_bundle() -> Path | None:
    try:
        from botocore.httpsession import DEFAULT_CA_BUNDLE
    except ImportError:
        return None
    path = Path(DEFAULT_CA_BUNDLE)
    return path if path.is_file() else None


def trust_for_handlers(cert: Path) -> Path | None:
    """Point ``AWS_CA_BUNDLE`` at a bundle that also trusts ``cert``, unless the user set one.

    Returns the bundle written, or None when ``AWS_CA_BUNDLE`` was already set.
    """
    if os.environ.get("AWS_CA_BUNDLE"):
        log.info("AWS_CA_BUNDLE is set; handlers must trust %s themselves", cert)
        return None
    default = _default_ca_bundle()
    fd, name = tempfile.mkstemp(prefix="wsgate-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as bundle:
        if default is not None:
            bundle.write(default.read_bytes().rstrip(b"\n") + b"\n")
        bundle.write(cert.read_bytes())
    os.environ["AWS_CA_BUNDLE"] = name
    return Path(name)

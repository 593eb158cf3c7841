"""TLS for the second listener, so handlers' boto3 clients can use ``https://{domainName}``.

With no certificate configured, a self-signed one for localhost is made at start, and
``AWS_CA_BUNDLE`` points in-process handlers at a bundle holding the CAs they trusted
before (the user's ``AWS_CA_BUNDLE`` or botocore's default) plus that certificate: calls
to the gateway verify, and calls to real AWS still do.
"""

from __future__ import annotations

import datetime
import ipaddress
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


def _current_ca_bundle() -> Path | None:
    """The bundle botocore would use now: ``AWS_CA_BUNDLE``, else its own default."""
    configured = os.environ.get("AWS_CA_BUNDLE")
    if configured:
        return Path(configured)
    try:
        from botocore.httpsession import DEFAULT_CA_BUNDLE
    except ImportError:
        return None
    return Path(DEFAULT_CA_BUNDLE)


def trust_for_handlers(cert: Path) -> Path:
    """Point ``AWS_CA_BUNDLE`` at a bundle of the CAs botocore trusted so far plus ``cert``.

    Returns the bundle written. Calls to real AWS services verify exactly as before.
    """
    current = _current_ca_bundle()
    fd, name = tempfile.mkstemp(prefix="wsgate-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as bundle:
        if current is not None and current.is_file():
            bundle.write(current.read_bytes().rstrip(b"\n") + b"\n")
        bundle.write(cert.read_bytes())
    os.environ["AWS_CA_BUNDLE"] = name
    return Path(name)

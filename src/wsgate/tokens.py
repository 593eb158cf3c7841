"""Local signing keys and test tokens, so the jwt authorizer can be tried without an IdP.

``wsgate token keygen`` writes a private key and adds its public half to a ``jwks.json``
beside it (run it again with another name to rotate); ``wsgate token mint`` signs a token
with such a key. The ``kid`` of a key is its RFC 7638 thumbprint, so both commands agree
on it without being told.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from wsgate.exceptions import TokenError


__all__ = [
    "KeyFiles",
    "KeyType",
    "generate_key",
    "jwk_thumbprint",
    "load_private_key",
    "mint_token",
    "public_jwk",
    "write_key_files",
]

KeyType = Literal["rsa", "ec"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def generate_key(key_type: KeyType) -> PrivateKey:
    """A new RSA 2048-bit (RS256) or EC P-256 (ES256) private key."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _algorithm(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if not isinstance(key.curve, ec.SECP256R1):
        raise TokenError(f"only P-256 EC keys are supported, got {key.curve.name}")
    return "ES256"


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA or EC public JWK, base64url."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[str(jwk["kty"])]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(key: PrivateKey) -> dict[str, object]:
    """The public JWK of ``key`` with ``kid`` (its RFC 7638 thumbprint), ``alg`` and ``use``."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = dict(RSAAlgorithm.to_jwk(public, as_dict=True))
    else:
        jwk = dict(ECAlgorithm.to_jwk(public, as_dict=True))
    jwk["kid"] = jwk_thumbprint(jwk)
    jwk["alg"] = _algorithm(key)
    jwk["use"] = "sig"
    return jwk


@dataclass(frozen=True, slots=True)
class KeyFiles:
    """What ``write_key_files`` wrote: the private key, the JWKS, and the key's ``kid``."""

    key: Path
    jwks: Path
    kid: str


def write_key_files(folder: Path, name: str = "signing-key", key_type: KeyType = "rsa") -> KeyFiles:
    """Write ``{folder}/{name}.pem`` (owner-only) and add its public key to ``jwks.json``.

    Keys already in ``jwks.json`` stay, so tokens signed with them still verify: writing a
    second key is how to try key rotation.

    Raises:
        TokenError: the key file exists already, or ``jwks.json`` is not a JWKS.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key_path = folder / f"{name}.pem"
    jwks_path = folder / "jwks.json"
    keys: list[object] = []
    if jwks_path.exists():
        try:
            existing = json.loads(jwks_path.read_text(encoding="utf-8"))
            keys = list(existing["keys"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError(f"{jwks_path}: not a JWKS ({exc}); move it away first") from None
    key = generate_key(key_type)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TokenError(f"{key_path} exists already; choose another --name") from None
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    jwk = public_jwk(key)
    keys.append(jwk)
    jwks_path.write_text(json.dumps({"keys": keys}, indent=2) + "\n", encoding="utf-8")
    return KeyFiles(key=key_path, jwks=jwks_path, kid=str(jwk["kid"]))


def load_private_key(path: Path) -> PrivateKey:
    """Read an unencrypted PEM private key (RSA, or EC P-256).

    Raises:
        TokenError: the file cannot be read or holds no usable private key.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TokenError(f"{path}: an RSA or EC key is needed, got {type(key).__name__}")
    _algorithm(key)
    return key


def mint_token(
    key: PrivateKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    scopes: Sequence[str] = (),
    ttl: float = 3600,
    token_use: Literal["id", "access"] | None = None,
    claims: Mapping[str, object] | None = None,
    now: float | None = None,
) -> str:
    """Sign a token as an identity provider would, with ``kid`` set to the key's thumbprint.

    With ``token_use="access"`` the audience goes into ``client_id`` and there is no
    ``aud``, as in Cognito's access tokens; otherwise it is ``aud``. ``claims`` are added
    last and may override any of the others.
    """
    issued = int(time.time() if now is None else now)
    payload: dict[str, object] = {"iss": issuer, "sub": subject}
    if token_use == "access":
        payload["client_id"] = audience
    else:
        payload["aud"] = audience
    if token_use is not None:
        payload["token_use"] = token_use
    if scopes:
        payload["scope"] = " ".join(scopes)
    payload["iat"] = issued
    payload["exp"] = issued + int(ttl)
    payload.update(claims or {})
    jwk = public_jwk(key)
    return jwt.encode(payload, key, algorithm=str(jwk["alg"]), headers={"kid": jwk["kid"]})

"""Real RSA and EC keys, their JWKS, and tokens signed (or forged) with them, for tests."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


ISSUER = "https://issuer.example/pool"
AUDIENCE = "app-client"


@dataclass(frozen=True)
class SigningKey:
    """A private key with the ``kid`` and ``alg`` its JWK announces."""

    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    kid: str
    alg: str
    declare_alg: bool = True

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = dict(RSAAlgorithm.to_jwk(public, as_dict=True))
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            jwk = dict(ECAlgorithm.to_jwk(public, as_dict=True))
        jwk["kid"] = self.kid
        jwk["use"] = "sig"
        if self.declare_alg:
            jwk["alg"] = self.alg
        return jwk

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self, payload: dict[str, Any], *, kid: str | None = None, alg: str | None = None
    ) -> str:
        """Sign ``payload``; ``kid`` and ``alg`` override the header's (to forge tokens)."""
        return jwt.encode(
            payload,
            self.private,
            algorithm=alg or self.alg,
            headers={"kid": self.kid if kid is None else kid},
        )


@functools.cache
def _rsa_private(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _ec_private(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(name: str, *, declare_alg: bool = True) -> SigningKey:
    """An RSA key (generated once per name) whose kid is ``name``."""
    return SigningKey(_rsa_private(name), name, "RS256", declare_alg)


def ec_key(name: str) -> SigningKey:
    """An EC P-256 key (generated once per name) whose kid is ``name``."""
    return SigningKey(_ec_private(name), name, "ES256")


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def claims(**changes: Any) -> dict[str, Any]:
    """A valid payload for ISSUER and AUDIENCE, with ``changes`` (None removes a claim)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": now - 5,
        "exp": now + 600,
        "email": "ann@example.com",
        "cognito:groups": ["admins", "users"],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


def hmac_forgery(key: SigningKey, payload: dict[str, Any]) -> str:
    """The classic confusion attack: HS256 "signed" with the RSA public key as the secret.

    PyJWT refuses to make such a token, so it is assembled here.
    """
    signing_input = _segments({"alg": "HS256", "typ": "JWT", "kid": key.kid}, payload)
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def unsigned(kid: str, payload: dict[str, Any]) -> str:
    """A token with ``alg: none`` and an empty signature."""
    return _segments({"alg": "none", "typ": "JWT", "kid": kid}, payload) + "."

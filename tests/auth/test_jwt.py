"""Tests for wsgate.auth.jwt: the JwtAuthorizer on its own, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from tests.auth.keys import AUDIENCE, ISSUER, claims, ec_key, jwks, rsa_key
from wsgate.auth.base import Authorized, Authorizer, Refused
from wsgate.auth.jwks import FileJwksSource, KeyStore
from wsgate.auth.jwt import JwtAuthorizer
from wsgate.core.claims import ClaimsPolicy
from wsgate.core.identity import IdentitySource
from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest


API = ApiContext("abcdefghij", "dev", "localhost:8443", "us-east-1", "123456789012")
CONNECTION = ConnectionContext("L0SM9cOFvHcCIhw=", 1_700_000_000_000, "192.0.2.1", None)
POLICY = ClaimsPolicy(issuer=ISSUER, audiences=frozenset({AUDIENCE}))
HEADER = IdentitySource("header", "Authorization")


class BrokenSource:
    """A source failing in a way nobody planned for."""

    description = "broken"

    async def load(self) -> bytes:
        raise RuntimeError("unexpected")

    async def aclose(self) -> None:
        pass


def request_with(token: str) -> HandshakeRequest:
    return HandshakeRequest(
        headers=(("Authorization", f"Bearer {token}"),),
        query=(),
        has_query=False,
        source_ip="192.0.2.1",
        port=8443,
        scheme="https",
    )


def authorizer(path: Path, algorithms: tuple[str, ...] = ("RS256", "ES256")) -> JwtAuthorizer:
    store = KeyStore(FileJwksSource(path), cache_ttl=300, min_refresh_interval=0)
    return JwtAuthorizer(POLICY, algorithms, store, [HEADER])


async def decide(auth: JwtAuthorizer, token: str) -> Authorized | Refused:
    return await auth.authorize(API, CONNECTION, request_with(token), "R1knPH17NjMFftw=")


async def test_conforms_to_the_authorizer_protocol(tmp_path: Path) -> None:
    """JwtAuthorizer is an Authorizer (checked by mypy) and closes cleanly."""
    auth: Authorizer = authorizer(tmp_path / "jwks.json")
    await auth.aclose()


async def test_authorized_context_has_the_documented_shape(tmp_path: Path) -> None:
    """principalId, an integer integrationLatency, and jwt.claims/jwt.scopes."""
    key = ec_key("e1")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(key)))
    payload = claims(scp=["read", "write"])
    decision = await decide(authorizer(path), key.sign(payload))
    assert isinstance(decision, Authorized)
    latency = decision.context.pop("integrationLatency")
    assert isinstance(latency, int) and latency >= 0
    assert decision.context == {
        "principalId": "user-1",
        "jwt": {"claims": payload, "scopes": ["read", "write"]},
    }
    assert orjson.loads(orjson.dumps(decision.context)) == decision.context


async def test_other_rsa_algorithms_when_configured(tmp_path: Path) -> None:
    """A JWK without alg serves PS256 when the authorizer accepts PS256."""
    key = rsa_key("plain", declare_alg=False)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(key)))
    token = key.sign(claims(), alg="PS256")
    assert isinstance(await decide(authorizer(path, ("PS256",)), token), Authorized)
    refused = await decide(authorizer(path), token)
    assert refused == Refused(401, "alg 'PS256' is not accepted")


async def test_an_unexpected_failure_is_500_not_an_exception(tmp_path: Path) -> None:
    """The authorizer never raises: anything unplanned becomes 500."""
    store = KeyStore(BrokenSource(), cache_ttl=300, min_refresh_interval=0)
    auth = JwtAuthorizer(POLICY, ("RS256",), store, [HEADER])
    decision = await decide(auth, rsa_key("k1").sign(claims()))
    assert isinstance(decision, Refused)
    assert decision.status == 500

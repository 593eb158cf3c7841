"""The jwt authorizer end to end: real keys, a real JWKS server, real WebSocket handshakes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from aiohttp import web
from websockets.exceptions import InvalidStatus

from tests.auth.keys import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    claims,
    ec_key,
    hmac_forgery,
    jwks,
    rsa_key,
    unsigned,
)
from tests.e2e import handlers
from tests.e2e.conftest import BASE_ROUTES, GatewayFactory, RunningGateway, wait_for
from wsgate.cli import main
from wsgate.tokens import load_private_key, mint_token


RSA = rsa_key("rsa-1")
EC = ec_key("ec-1")
ROTATED = rsa_key("rsa-2")
STRANGER = rsa_key("stranger")  # not in any JWKS


class JwksServer:
    """A local issuer: serves a JWKS over real HTTP, counts fetches, can go down."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = jwks(RSA, EC)
        self.fetches: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.Response:
        self.fetches.append(request.path)
        return web.json_response(self.document)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/jwks.json", self._serve)
        app.router.add_get("/{pool}/.well-known/jwks.json", self._serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Take the server down: connections to its port are refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/jwks.json"


@pytest.fixture
async def issuer() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    await server.start()
    yield server
    await server.stop()


def jwt_config(server: JwksServer, **changes: Any) -> dict[str, Any]:
    """An authorizer on ``server``'s JWKS; refreshes are not rate-limited unless changed."""
    return {
        "type": "jwt",
        "issuer": ISSUER,
        "audience": [AUDIENCE, "other-client"],
        "jwks_uri": server.url,
        "jwks_min_refresh_interval": 0,
        **changes,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kwargs):
            pass
    return int(info.value.response.status_code)


async def echo_works(running: RunningGateway, **kwargs: Any) -> None:
    """Open a connection with ``kwargs``, check a message round-trips, close it."""
    async with websockets.connect(running.ws_url(), **kwargs) as ws:
        await ws.send('{"action": "echo", "n": 1}')
        assert await ws.recv() == '{"action": "echo", "n": 1}'


def authorizer_of(event: dict[str, Any]) -> dict[str, Any]:
    value = event["requestContext"]["authorizer"]
    assert isinstance(value, dict)
    return value


# --- success ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
async def test_valid_token_opens_the_connection(
    gateway_factory: GatewayFactory, issuer: JwksServer, key: SigningKey
) -> None:
    """A token signed by an RSA or EC key of the JWKS opens the connection."""
    running = await gateway_factory(authorizer=jwt_config(issuer))
    await echo_works(running, additional_headers=bearer(key.sign(claims())))
    context = authorizer_of(handlers.events_for("$connect")[0])
    assert context["principalId"] == "user-1"
    assert isinstance(context["integrationLatency"], int)
    assert context["jwt"]["claims"]["email"] == "ann@example.com"
    assert context["jwt"]["scopes"] is None


async def test_bearer_prefix_is_optional(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """The Authorization header may carry the token alone or after `Bearer `."""
    running = await gateway_factory(authorizer=jwt_config(issuer))
    await echo_works(running, additional_headers={"Authorization": RSA.sign(claims())})
    await echo_works(running, additional_headers={"authorization": "bearer " + RSA.sign(claims())})


async def test_token_in_the_query_string_for_browsers(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """Browsers cannot set headers on a WebSocket: the token may come in the query."""
    running = await gateway_factory(
        authorizer=jwt_config(issuer, identity_source=["route.request.querystring.token"])
    )
    token = EC.sign(claims())
    async with websockets.connect(running.ws_url(f"token={token}")) as ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == '{"action": "echo"}'
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 401


async def test_claims_reach_message_and_disconnect_events(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """principalId, claims and scopes are on $connect, every MESSAGE and $disconnect."""
    running = await gateway_factory(authorizer=jwt_config(issuer))
    token = RSA.sign(claims(scope="chat/read chat/write"))
    async with websockets.connect(running.ws_url(), additional_headers=bearer(token)) as ws:
        await ws.send('{"action": "echo"}')
        await ws.recv()
        await ws.send("not json")
        await ws.recv()
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    events = [
        handlers.events_for("$connect")[0],
        handlers.events_for("echo")[0],
        handlers.events_for("$default")[0],
        handlers.events_for("$disconnect")[0],
    ]
    assert [e["requestContext"]["eventType"] for e in events] == [
        "CONNECT",
        "MESSAGE",
        "MESSAGE",
        "DISCONNECT",
    ]
    contexts = [authorizer_of(event) for event in events]
    assert all(context == contexts[0] for context in contexts)
    assert contexts[0]["principalId"] == "user-1"
    assert contexts[0]["jwt"]["scopes"] == ["chat/read", "chat/write"]
    assert contexts[0]["jwt"]["claims"]["cognito:groups"] == ["admins", "users"]
    assert contexts[0]["jwt"]["claims"]["iss"] == ISSUER


async def test_a_handler_changing_its_claims_changes_no_other_event(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """Mutating requestContext.authorizer in one event leaves later events intact."""
    routes = {**BASE_ROUTES, "mutate": {"handler": "tests.e2e.jwt_handlers:mutate_claims"}}
    running = await gateway_factory(authorizer=jwt_config(issuer), routes=routes)
    token = RSA.sign(claims(scope="chat/read"))
    async with websockets.connect(running.ws_url(), additional_headers=bearer(token)) as ws:
        for _ in range(2):
            await ws.send('{"action": "mutate"}')
        await ws.send('{"action": "echo"}')
        await ws.recv()
    await wait_for(lambda: bool(handlers.events_for("$disconnect")))
    expected = authorizer_of(handlers.events_for("$connect")[0])
    later = [*handlers.events_for("mutate"), *handlers.events_for("echo")]
    later += handlers.events_for("$disconnect")
    assert len(later) == 4
    for event in later:
        assert authorizer_of(event) == expected
    assert expected["principalId"] == "user-1"
    assert expected["jwt"]["scopes"] == ["chat/read"]


# --- refusals --------------------------------------------------------------------------


async def test_missing_token_is_401_without_any_validation_work(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """No token (or an empty one, or a bare `Bearer`) is 401; the JWKS is never fetched."""
    running = await gateway_factory(
        authorizer=jwt_config(
            issuer,
            identity_source=["route.request.header.Authorization", "route.request.querystring.t"],
        )
    )
    assert await refused_status(running.ws_url()) == 401
    assert await refused_status(running.ws_url(), additional_headers=bearer("")) == 401
    assert await refused_status(running.ws_url("t="), additional_headers={"X-Other": "1"}) == 401
    assert issuer.fetches == []
    assert handlers.EVENTS == []


def _bad_tokens() -> dict[str, str]:
    """One token per way of being invalid, for an authorizer wanting id tokens + chat/read."""
    good = {"token_use": "id", "scope": "chat/read"}
    now = claims()["iat"] + 5
    header, payload, signature = RSA.sign(claims(**good)).split(".")
    other_payload = RSA.sign(claims(**good, sub="admin")).split(".")[1]
    return {
        "bad signature": STRANGER.sign(claims(**good), kid=RSA.kid),
        "tampered payload": f"{header}.{other_payload}.{signature}",
        "wrong issuer": RSA.sign(claims(**good, iss="https://evil.example/pool")),
        "wrong audience": RSA.sign(claims(**good, aud="someone-else")),
        "expired": RSA.sign(claims(**good, exp=now - 60)),
        "not yet valid": RSA.sign(claims(**good, nbf=now + 600)),
        "issued in the future": RSA.sign(claims(**good, iat=now + 600)),
        "no exp": RSA.sign(claims(**good, exp=None)),
        "no sub": RSA.sign(claims(**good, sub=None)),
        "wrong token_use": RSA.sign(claims(**{**good, "token_use": "access"})),
        "missing scope": RSA.sign(claims(**{**good, "scope": "profile"})),
        "malformed": "not-a-jwt",
        "malformed segments": "a.b.c",
        "payload not json": f"{header}.bm90IGpzb24.{signature}",
        "alg none": unsigned(RSA.kid, claims(**good)),
        "hmac with the public key": hmac_forgery(RSA, claims(**good)),
        "alg not accepted": RSA.sign(claims(**good), alg="RS512"),
        "alg of another key type": EC.sign(claims(**good), kid=RSA.kid),
        "kid not in the set": STRANGER.sign(claims(**good)),
        "no kid": RSA.sign(claims(**good), kid=""),
    }


BAD_TOKENS = _bad_tokens()


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_invalid_tokens_are_401_and_invoke_nothing(
    gateway_factory: GatewayFactory, issuer: JwksServer, case: str
) -> None:
    """Every invalid token is 401, as AWS's JWT authorizer answers; $connect never runs."""
    running = await gateway_factory(
        authorizer=jwt_config(issuer, token_use="id", required_scopes=["chat/read", "chat/admin"])
    )
    token = BAD_TOKENS[case]
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 401
    assert handlers.EVENTS == []
    good = RSA.sign(claims(token_use="id", scope="chat/read"))
    await echo_works(running, additional_headers=bearer(good))


async def test_forged_and_unsigned_tokens_never_reach_the_key_store(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """`alg: none` and HMAC tokens are refused from their header, before any JWKS fetch."""
    running = await gateway_factory(authorizer=jwt_config(issuer))
    for token in (unsigned(RSA.kid, claims()), hmac_forgery(RSA, claims())):
        assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 401
    assert issuer.fetches == []


# --- the JWKS: unreachable, cached, rotated, rate-limited ---------------------------------


async def test_jwks_unreachable_without_a_cached_key_is_500(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """With the issuer down and no key held, a token cannot be judged: 500."""
    await issuer.stop()
    running = await gateway_factory(authorizer=jwt_config(issuer))
    token = RSA.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 500
    assert handlers.EVENTS == []


async def test_jwks_error_status_without_a_cached_key_is_500(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """A JWKS URL that answers 404 is as good as unreachable."""
    running = await gateway_factory(
        authorizer=jwt_config(issuer, jwks_uri=f"{issuer.base}/missing.json")
    )
    token = RSA.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 500


async def test_jwks_down_with_cached_keys_still_authorizes(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """Keys fetched before the issuer went down keep verifying tokens after their TTL."""
    running = await gateway_factory(authorizer=jwt_config(issuer, jwks_cache_ttl=0.01))
    await echo_works(running, additional_headers=bearer(RSA.sign(claims())))
    await issuer.stop()
    await asyncio.sleep(0.05)  # the cache has expired: the next token tries to refetch
    await echo_works(running, additional_headers=bearer(EC.sign(claims())))
    await echo_works(running, additional_headers=bearer(RSA.sign(claims(sub="user-2"))))
    # A kid the held keys do not know cannot be judged while the issuer is down.
    token = ROTATED.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 500
    assert issuer.fetches == ["/jwks.json"]


async def test_new_kid_is_accepted_after_rotation_without_restart(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """When the issuer rotates its keys, a token with the new kid triggers a refresh."""
    running = await gateway_factory(authorizer=jwt_config(issuer))
    await echo_works(running, additional_headers=bearer(RSA.sign(claims())))
    assert len(issuer.fetches) == 1
    issuer.document = jwks(ROTATED)  # RSA retired, ROTATED introduced
    await echo_works(running, additional_headers=bearer(ROTATED.sign(claims())))
    assert len(issuer.fetches) == 2
    await echo_works(running, additional_headers=bearer(ROTATED.sign(claims(sub="u2"))))
    assert len(issuer.fetches) == 2  # the new key is cached
    old = RSA.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(old)) == 401


async def test_refreshes_for_unknown_kids_are_rate_limited(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """A stream of bogus kids costs the issuer no more than one fetch per interval."""
    running = await gateway_factory(authorizer=jwt_config(issuer, jwks_min_refresh_interval=3600))
    await echo_works(running, additional_headers=bearer(RSA.sign(claims())))
    assert len(issuer.fetches) == 1
    for index in range(10):
        token = STRANGER.sign(claims(), kid=f"bogus-{index}")
        assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 401
    # Even a genuinely new key waits for the interval; the known ones keep working.
    issuer.document = jwks(RSA, ROTATED)
    rotated = ROTATED.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(rotated)) == 401
    await echo_works(running, additional_headers=bearer(RSA.sign(claims())))
    assert len(issuer.fetches) == 1


async def test_concurrent_handshakes_share_one_jwks_fetch(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """Handshakes arriving together before any key is held cause a single fetch."""
    running = await gateway_factory(authorizer=jwt_config(issuer))
    tokens = [RSA.sign(claims(sub=f"user-{n}")) for n in range(8)]
    await asyncio.gather(
        *(echo_works(running, additional_headers=bearer(token)) for token in tokens)
    )
    assert len(issuer.fetches) == 1


# --- Cognito and files -----------------------------------------------------------------


async def test_cognito_issuer_finds_its_jwks_and_checks_access_tokens(
    gateway_factory: GatewayFactory, issuer: JwksServer
) -> None:
    """Without jwks_uri the JWKS is {issuer}/.well-known/jwks.json; access tokens use client_id."""
    pool = f"{issuer.base}/us-east-1_AbC123"
    running = await gateway_factory(
        authorizer={
            "type": "jwt",
            "issuer": pool,
            "audience": "app-client",
            "token_use": "access",
            "required_scopes": ["chat/read"],
        }
    )
    access = claims(
        iss=pool, aud=None, client_id="app-client", token_use="access", scope="chat/read"
    )
    await echo_works(running, additional_headers=bearer(RSA.sign(access)))
    assert issuer.fetches == ["/us-east-1_AbC123/.well-known/jwks.json"]
    context = authorizer_of(handlers.events_for("$connect")[0])
    assert context["jwt"]["claims"]["client_id"] == "app-client"
    id_token = claims(iss=pool, aud="app-client", token_use="id", scope="chat/read")
    assert (
        await refused_status(running.ws_url(), additional_headers=bearer(RSA.sign(id_token))) == 401
    )


async def test_jwks_file_with_rotation(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    """Keys may come from a file; a rewritten file is picked up for a new kid."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(RSA)))
    running = await gateway_factory(
        authorizer={
            "type": "jwt",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "jwks_file": str(path),
            "jwks_min_refresh_interval": 0,
        }
    )
    await echo_works(running, additional_headers=bearer(RSA.sign(claims())))
    token = EC.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 401
    path.write_text(json.dumps(jwks(RSA, EC)))
    await echo_works(running, additional_headers=bearer(token))


async def test_missing_jwks_file_is_500(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    """A jwks_file that cannot be read leaves no key to verify with: 500."""
    running = await gateway_factory(
        authorizer={
            "type": "jwt",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "jwks_file": str(tmp_path / "nowhere.json"),
        }
    )
    token = RSA.sign(claims())
    assert await refused_status(running.ws_url(), additional_headers=bearer(token)) == 500


async def test_wsgate_token_walkthrough(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    """The README's walk-through: keygen, a jwks_file authorizer, mint, connect."""
    assert main(["token", "keygen", "--out", str(tmp_path / "keys")]) == 0
    running = await gateway_factory(
        authorizer={
            "type": "jwt",
            "issuer": "https://wsgate.local/test",
            "audience": "my-app",
            "jwks_file": str(tmp_path / "keys" / "jwks.json"),
        }
    )
    token = mint_token(
        load_private_key(tmp_path / "keys" / "signing-key.pem"),
        issuer="https://wsgate.local/test",
        audience="my-app",
        subject="alice",
    )
    await echo_works(running, additional_headers=bearer(token))
    assert authorizer_of(handlers.events_for("$connect")[0])["principalId"] == "alice"

"""Tests for wsgate.auth.jwks: parsing a JWKS, its sources, and the cached key store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.auth.keys import ec_key, jwks, rsa_key
from tests.http_app import serving
from wsgate.auth.jwks import (
    FileJwksSource,
    HttpJwksSource,
    KeyFound,
    KeyMissing,
    KeyStore,
    KeysUnavailable,
    parse_jwks,
)
from wsgate.exceptions import JwksUnavailable


# --- parsing ---------------------------------------------------------------------------


def test_parse_keeps_asymmetric_signing_keys_by_kid() -> None:
    """RSA and EC keys with a kid are kept; the set answers `in` by kid."""
    keys = parse_jwks(orjson.dumps(jwks(rsa_key("r1"), ec_key("e1"))))
    assert len(keys) == 2
    assert "r1" in keys and "e1" in keys and "x" not in keys


def test_parse_skips_keys_that_must_not_or_cannot_be_used() -> None:
    """Secret (oct), encryption, kid-less, broken and unknown keys are skipped."""
    good = rsa_key("good").jwk()
    document = {
        "keys": [
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {**rsa_key("enc").jwk(), "use": "enc"},
            {k: v for k, v in rsa_key("nokid").jwk().items() if k != "kid"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            {"kty": "XYZ", "kid": "unknown"},
            "not a key",
            good,
            {**ec_key("dup").jwk(), "kid": "good"},
        ]
    }
    keys = parse_jwks(orjson.dumps(document))
    assert len(keys) == 1
    assert keys.key_for("good", "RS256") is not None  # the first "good" won


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[]", '"keys" list'),
        (b'{"keys": {}}', '"keys" list'),
        (b'{"keys": []}', "no usable signing key"),
        (b'{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}', "no usable signing key"),
    ],
)
def test_parse_refuses_documents_without_usable_keys(document: bytes, problem: str) -> None:
    """Anything that is not a JWKS with a usable key is JwksUnavailable."""
    with pytest.raises(JwksUnavailable, match=problem):
        parse_jwks(document)


def test_key_for_matches_the_algorithm_to_the_key() -> None:
    """A declared alg binds the key; an undeclared one allows its type's algorithms only."""
    declared, undeclared, curve = rsa_key("d"), rsa_key("u", declare_alg=False), ec_key("e")
    keys = parse_jwks(orjson.dumps(jwks(declared, undeclared, curve)))
    assert keys.key_for("d", "RS256") is not None
    assert keys.key_for("d", "PS256") is None
    assert keys.key_for("u", "RS256") is not None
    assert keys.key_for("u", "PS384") is not None
    assert keys.key_for("u", "ES256") is None
    assert keys.key_for("e", "ES256") is not None
    assert keys.key_for("e", "RS256") is None
    assert keys.key_for("missing", "RS256") is None


# --- the store, with a fake source and clock -------------------------------------------


class FakeSource:
    """Serves ``document`` (None: fails), counting loads; ``gate`` holds loads back."""

    description = "fake-jwks"

    def __init__(self, document: dict[str, Any] | None) -> None:
        self.document = document
        self.loads = 0
        self.closed = False
        self.gate: asyncio.Event | None = None

    async def load(self) -> bytes:
        self.loads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.document is None:
            raise JwksUnavailable("fake-jwks is down")
        return orjson.dumps(self.document)

    async def aclose(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(
    source: FakeSource, clock: Clock, ttl: float = 300, interval: float = 30
) -> KeyStore:
    return KeyStore(source, cache_ttl=ttl, min_refresh_interval=interval, clock=clock)


async def test_first_lookup_fetches_and_later_ones_use_the_cache() -> None:
    """Within the TTL the key set is fetched once."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    store = make_store(source, clock)
    assert isinstance(await store.key("k1", "RS256"), KeyFound)
    clock.now += 299
    assert isinstance(await store.key("k1", "RS256"), KeyFound)
    assert source.loads == 1


async def test_expired_cache_is_fetched_again() -> None:
    """After the TTL the next lookup fetches; a key removed by the issuer is then gone."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    store = make_store(source, clock)
    await store.key("k1", "RS256")
    source.document = jwks(rsa_key("k2"))
    clock.now += 300
    assert isinstance(await store.key("k2", "RS256"), KeyFound)
    assert isinstance(await store.key("k1", "RS256"), KeyMissing)
    assert source.loads == 2


async def test_keys_held_stay_in_use_when_a_refetch_fails() -> None:
    """Stale-if-error: an expired set whose refetch fails still verifies tokens."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    store = make_store(source, clock)
    await store.key("k1", "RS256")
    source.document = None
    clock.now += 301
    assert isinstance(await store.key("k1", "RS256"), KeyFound)
    assert isinstance(await store.key("k1", "RS256"), KeyFound)
    assert source.loads == 2  # the failed refetch is not retried within the interval
    clock.now += 30
    await store.key("k1", "RS256")
    assert source.loads == 3


async def test_no_keys_at_all_is_unavailable_and_retried_after_the_interval() -> None:
    """Without any key set, lookups are KeysUnavailable; fetches stay rate-limited."""
    source, clock = FakeSource(None), Clock()
    store = make_store(source, clock)
    result = await store.key("k1", "RS256")
    assert isinstance(result, KeysUnavailable)
    assert "down" in result.reason
    assert isinstance(await store.key("k1", "RS256"), KeysUnavailable)
    assert source.loads == 1
    source.document = jwks(rsa_key("k1"))
    clock.now += 30
    assert isinstance(await store.key("k1", "RS256"), KeyFound)
    assert source.loads == 2


async def test_unknown_kid_refreshes_once_then_is_rate_limited() -> None:
    """A new kid (key rotation) triggers a fetch; more unknown kids wait for the interval."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    store = make_store(source, clock)
    await store.key("k1", "RS256")
    clock.now += 31
    source.document = jwks(rsa_key("k1"), rsa_key("k2"))
    assert isinstance(await store.key("k2", "RS256"), KeyFound)
    assert source.loads == 2
    for bogus in ("b1", "b2", "b3"):
        result = await store.key(bogus, "RS256")
        assert isinstance(result, KeyMissing)
        assert "b" in result.reason
    assert source.loads == 2
    clock.now += 30
    assert isinstance(await store.key("b4", "RS256"), KeyMissing)
    assert source.loads == 3


async def test_unknown_kid_with_the_issuer_down_is_unavailable() -> None:
    """When the refresh for an unknown kid fails, the token cannot be judged: unavailable."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    store = make_store(source, clock)
    await store.key("k1", "RS256")
    source.document = None
    clock.now += 31
    assert isinstance(await store.key("k2", "RS256"), KeysUnavailable)
    assert isinstance(await store.key("k1", "RS256"), KeyFound)


async def test_concurrent_lookups_share_one_fetch() -> None:
    """Handshakes that need the JWKS at the same time wait for the same fetch."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    source.gate = asyncio.Event()
    store = make_store(source, clock, interval=0)
    lookups = [asyncio.create_task(store.key("k1", "RS256")) for _ in range(20)]
    await asyncio.sleep(0.01)
    source.gate.set()
    results = await asyncio.gather(*lookups)
    assert all(isinstance(result, KeyFound) for result in results)
    assert source.loads == 1


async def test_a_cancelled_lookup_does_not_cancel_the_shared_fetch() -> None:
    """A client that leaves mid-fetch leaves the fetch running for the others."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    source.gate = asyncio.Event()
    store = make_store(source, clock)
    leaving = asyncio.create_task(store.key("k1", "RS256"))
    staying = asyncio.create_task(store.key("k1", "RS256"))
    await asyncio.sleep(0.01)
    leaving.cancel()
    source.gate.set()
    assert isinstance(await staying, KeyFound)
    assert source.loads == 1


async def test_wrong_algorithm_for_the_key_is_missing() -> None:
    """A kid that exists but whose key cannot serve the token's alg is KeyMissing."""
    source, clock = FakeSource(jwks(ec_key("e1"))), Clock()
    store = make_store(source, clock)
    result = await store.key("e1", "RS256")
    assert isinstance(result, KeyMissing)
    assert "cannot verify RS256" in result.reason


async def test_aclose_cancels_a_fetch_and_closes_the_source() -> None:
    """Closing the store stops a fetch under way and releases the source."""
    source, clock = FakeSource(jwks(rsa_key("k1"))), Clock()
    source.gate = asyncio.Event()
    store = make_store(source, clock)
    lookup = asyncio.create_task(store.key("k1", "RS256"))
    await asyncio.sleep(0.01)
    await store.aclose()
    assert source.closed
    with pytest.raises(asyncio.CancelledError):
        await lookup


# --- sources ---------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve a handler at a free port on 127.0.0.1; returns the JWKS URL."""
    async with contextlib.AsyncExitStack() as servers:

        async def start(handler: Handler) -> str:
            app = web.Application()
            app.router.add_get("/jwks.json", handler)
            port = await servers.enter_async_context(serving(app))
            return f"http://127.0.0.1:{port}/jwks.json"

        yield start


async def load_once(url: str, timeout: float = 2.0, max_bytes: int = 150_000) -> bytes:
    source = HttpJwksSource(url, timeout=timeout, max_bytes=max_bytes)
    try:
        return await source.load()
    finally:
        await source.aclose()


async def test_http_source_fetches_the_document(serve: Serve) -> None:
    """A 200 answer's body is the document."""
    body = orjson.dumps(jwks(rsa_key("k1")))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    assert await load_once(await serve(handler)) == body


async def test_http_source_refuses_an_error_status(serve: Serve) -> None:
    """Anything but 200 is unavailable, naming the status."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503)

    with pytest.raises(JwksUnavailable, match="HTTP 503"):
        await load_once(await serve(handler))


@pytest.mark.parametrize("chunked", [False, True])
async def test_http_source_refuses_a_document_over_the_limit(serve: Serve, chunked: bool) -> None:
    """A body over the limit is refused whether or not its length was announced."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=b"x" * 2000)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(20):
            await response.write(b"x" * 100)
        await response.write_eof()
        return response

    with pytest.raises(JwksUnavailable, match="more than 1000 bytes"):
        await load_once(await serve(handler), max_bytes=1000)


async def test_http_source_times_out(serve: Serve) -> None:
    """An issuer that does not answer within the timeout is unavailable."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=b"{}")

    url = await serve(handler)
    try:
        with pytest.raises(JwksUnavailable, match="did not answer"):
            await load_once(url, timeout=0.2)
    finally:
        release.set()


async def test_http_source_with_nobody_listening() -> None:
    """A refused connection is unavailable, naming the URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/jwks.json"
    with pytest.raises(JwksUnavailable, match=f"cannot fetch {url}"):
        await load_once(url)


async def test_file_source_reads_and_explains_failures(tmp_path: Path) -> None:
    """A file is read off the event loop; a missing or oversized one is unavailable."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(rsa_key("k1"))))
    assert parse_jwks(await FileJwksSource(path).load()).key_for("k1", "RS256") is not None
    with pytest.raises(JwksUnavailable, match="cannot read"):
        await FileJwksSource(tmp_path / "missing.json").load()
    with pytest.raises(JwksUnavailable, match="larger than 10 bytes"):
        await FileJwksSource(path, max_bytes=10).load()

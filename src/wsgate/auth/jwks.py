"""The JWT authorizer's keys: a JWKS fetched over http(s) or read from a file, and cached.

Production needs, in order of appearance:

* Fetches never block the event loop (aiohttp for URLs, a worker thread for files), time
  out after ``timeout`` seconds (AWS: 1.5) and refuse documents over 150,000 bytes (AWS's
  limit too).
* A fetched key set is used for ``cache_ttl`` seconds; then the next token that needs a
  key fetches again. If that fetch fails the keys already held stay in use.
* A token whose ``kid`` is not in the set triggers one refresh (the issuer may have
  rotated its keys).
* Fetches, whatever caused them, are at least ``min_refresh_interval`` seconds apart, so
  a stream of tokens with bogus ``kid`` values cannot make wsgate hammer the issuer;
  concurrent handshakes that need a fetch share one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson
from jwt import PyJWK, PyJWTError

from wsgate.exceptions import JwksUnavailable


__all__ = [
    "MAX_JWKS_BYTES",
    "FileJwksSource",
    "HttpJwksSource",
    "JwksSource",
    "KeyFound",
    "KeyMissing",
    "KeySet",
    "KeyStore",
    "KeysUnavailable",
    "parse_jwks",
]

log = logging.getLogger("wsgate.auth")

MAX_JWKS_BYTES = 150_000
"""The largest JWKS document accepted, as AWS's JWT authorizer."""

_CHUNK = 64 * 1024


# --- sources ---------------------------------------------------------------------------


class JwksSource(Protocol):
    """Where a JWKS document comes from."""

    description: str
    """The URL or path, for log messages."""

    async def load(self) -> bytes:
        """Return the document's bytes.

        Raises:
            JwksUnavailable: it cannot be fetched or read; the message says why.
        """
        ...

    async def aclose(self) -> None:
        """Release what ``load`` opened; ``load`` may not be called afterwards."""
        ...


class HttpJwksSource:
    """A JWKS at an http(s) URL, fetched with one aiohttp session kept for reuse."""

    def __init__(self, url: str, timeout: float, max_bytes: int = MAX_JWKS_BYTES) -> None:
        self.description = url
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    async def load(self) -> bytes:
        """See ``JwksSource.load``."""
        if self._session is None:
            # Created on first use, inside the running loop that will also close it.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Accept": "application/json"}
            )
        try:
            async with self._session.get(self._url) as response:
                if response.status != 200:
                    raise JwksUnavailable(f"{self._url} answered HTTP {response.status}")
                length = response.content_length
                if length is not None and length > self._max_bytes:
                    raise JwksUnavailable(self._too_large())
                body = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksUnavailable(self._too_large())
                return bytes(body)
        except TimeoutError:
            raise JwksUnavailable(f"{self._url} did not answer within the timeout") from None
        except aiohttp.ClientError as exc:
            raise JwksUnavailable(
                f"cannot fetch {self._url}: {exc or type(exc).__name__}"
            ) from None

    def _too_large(self) -> str:
        return f"{self._url} sent more than {self._max_bytes} bytes"

    async def aclose(self) -> None:
        """See ``JwksSource.aclose``."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class FileJwksSource:
    """A JWKS file, read in a worker thread so the event loop never waits on the disk."""

    def __init__(self, path: Path, max_bytes: int = MAX_JWKS_BYTES) -> None:
        self.description = str(path)
        self._path = path
        self._max_bytes = max_bytes

    async def load(self) -> bytes:
        """See ``JwksSource.load``."""
        try:
            data = await asyncio.to_thread(self._path.read_bytes)
        except OSError as exc:
            raise JwksUnavailable(f"cannot read {self._path}: {exc.strerror or exc}") from None
        if len(data) > self._max_bytes:
            raise JwksUnavailable(f"{self._path} is larger than {self._max_bytes} bytes")
        return data

    async def aclose(self) -> None:
        """Nothing to release."""


# --- key sets --------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    jwk: dict[str, Any]
    by_algorithm: dict[str, PyJWK] = field(default_factory=dict)


class KeySet:
    """The signing keys of one JWKS document, by ``kid``.

    Only keys with a ``kid``, an asymmetric type (``RSA``, ``EC``, ``OKP``) and no ``use``
    other than ``sig`` are kept: a shared-secret (``oct``) key in a JWKS is never used.
    """

    def __init__(self, keys: dict[str, dict[str, Any]]) -> None:
        self._entries = {kid: _Entry(jwk) for kid, jwk in keys.items()}

    def __contains__(self, kid: object) -> bool:
        return kid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def key_for(self, kid: str, algorithm: str) -> PyJWK | None:
        """Return the key ``kid`` prepared for ``algorithm``, or None when it cannot be used.

        A key whose JWK names an ``alg`` serves that algorithm only; a key without one
        serves every algorithm of its type (an RSA key RS256 as well as PS256).
        """
        entry = self._entries.get(kid)
        if entry is None:
            return None
        declared = entry.jwk.get("alg")
        if declared is not None and declared != algorithm:
            return None
        key = entry.by_algorithm.get(algorithm)
        if key is None:
            try:
                key = PyJWK(entry.jwk, algorithm)
            except PyJWTError:
                return None  # e.g. an EC key for an RSA algorithm
            entry.by_algorithm[algorithm] = key
        return key


_ASYMMETRIC_TYPES = frozenset({"RSA", "EC", "OKP"})


def parse_jwks(document: bytes) -> KeySet:
    """Parse a JWKS document, keeping the keys ``KeySet`` describes.

    Each key is checked by building it with PyJWT; keys it cannot use are skipped, and
    the first of several keys with one ``kid`` wins.

    Raises:
        JwksUnavailable: not JSON, not ``{"keys": [...]}``, or no usable signing key.
    """
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise JwksUnavailable(f"the JWKS is not JSON: {exc}") from None
    raw_keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(raw_keys, list):
        raise JwksUnavailable('the JWKS is not an object with a "keys" list')
    keys: dict[str, dict[str, Any]] = {}
    for jwk in raw_keys:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or kid in keys:
            continue
        if jwk.get("kty") not in _ASYMMETRIC_TYPES or jwk.get("use", "sig") != "sig":
            continue
        try:
            PyJWK(jwk)
        except PyJWTError:
            continue
        keys[kid] = jwk
    if not keys:
        raise JwksUnavailable("the JWKS has no usable signing key with a kid")
    return KeySet(keys)


# --- the store -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyFound:
    """The key that verifies the token."""

    key: PyJWK


@dataclass(frozen=True, slots=True)
class KeyMissing:
    """No key can verify the token: its ``kid`` is unknown or its key is of another type."""

    reason: str


@dataclass(frozen=True, slots=True)
class KeysUnavailable:
    """The key set could not be had, so the token cannot be judged."""

    reason: str


class KeyStore:
    """A cached JWKS with refresh on unknown ``kid``, rate-limited (see the module docs)."""

    def __init__(
        self,
        source: JwksSource,
        *,
        cache_ttl: float,
        min_refresh_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._cache_ttl = cache_ttl
        self._min_interval = min_refresh_interval
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._last_error: str | None = None
        self._inflight: asyncio.Task[None] | None = None

    async def key(self, kid: str, algorithm: str) -> KeyFound | KeyMissing | KeysUnavailable:
        """Find the key for a token's ``kid`` and ``alg``, fetching the JWKS if needed."""
        if self._keys is None or self._clock() - self._fetched_at >= self._cache_ttl:
            await self._refresh()
        keys = self._keys
        if keys is None:
            return KeysUnavailable(self._last_error or "the JWKS has not been fetched")
        if kid not in keys:
            # Maybe the issuer rotated its keys; unless a fetch was just made, ask again.
            if await self._refresh():
                keys = self._keys if self._keys is not None else keys
                if kid not in keys and self._last_error is not None:
                    return KeysUnavailable(self._last_error)
            if kid not in keys:
                return KeyMissing(f"no key in {self._source.description} has kid {kid!r}")
        key = keys.key_for(kid, algorithm)
        if key is None:
            return KeyMissing(f"key {kid!r} cannot verify {algorithm}")
        return KeyFound(key)

    async def _refresh(self) -> bool:
        """Fetch now, or join the fetch under way; False when the rate limit says wait."""
        task = self._inflight
        if task is None:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return False
            self._attempted_at = now
            task = self._inflight = asyncio.create_task(self._fetch())
        # Shielded: a client that leaves mid-fetch must not cancel the others' fetch.
        await asyncio.shield(task)
        return True

    async def _fetch(self) -> None:
        try:
            keys = parse_jwks(await self._source.load())
        except JwksUnavailable as exc:
            self._last_error = str(exc)
            held = "keeping the keys held" if self._keys is not None else "no keys held"
            log.warning("JWKS from %s unavailable (%s): %s", self._source.description, held, exc)
        else:
            self._keys = keys
            self._fetched_at = self._clock()
            self._last_error = None
            log.info("JWKS from %s: %d signing key(s)", self._source.description, len(keys))
        finally:
            self._inflight = None

    async def aclose(self) -> None:
        """Stop a fetch under way and release the source."""
        task = self._inflight
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._source.aclose()

"""The JWT authorizer: a token signed by a key of the issuer's JWKS opens the connection.

AWS offers JWT authorizers on HTTP APIs only (CONTRACT §2.7); this one follows that one's
checks and answers 401 for every bad token, 500 when the keys cannot be had. The order
matters for cost: nothing is decoded without a token, and no key is looked up for a token
whose header already disqualifies it (``alg`` not accepted, no ``kid``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import jwt

from wsgate.auth.base import Authorized, Refused
from wsgate.auth.jwks import KeyMissing, KeyStore, KeysUnavailable
from wsgate.core.bearer import find_token
from wsgate.core.claims import ClaimsPolicy, InvalidClaims, check_claims, jwt_authorizer_context
from wsgate.core.identity import IdentitySource
from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest


__all__ = ["JwtAuthorizer"]

log = logging.getLogger("wsgate.auth")


class JwtAuthorizer:
    """Validates the token of each handshake and maps the outcome to a status.

    No token in any identity source → 401 without further work; a malformed token, an
    ``alg`` not in ``algorithms`` (``none`` and HMAC never are), no or unknown ``kid``,
    a bad signature or failed claims → 401; no JWKS to be had → 500.
    """

    def __init__(
        self,
        policy: ClaimsPolicy,
        algorithms: Sequence[str],
        keys: KeyStore,
        identity_sources: Sequence[IdentitySource],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._algorithms = frozenset(algorithms)
        self._keys = keys
        self._sources = tuple(identity_sources)
        self._clock = clock

    async def authorize(
        self,
        api: ApiContext,
        connection: ConnectionContext,
        request: HandshakeRequest,
        request_id: str,
    ) -> Authorized | Refused:
        """See ``Authorizer.authorize``."""
        token = find_token(self._sources, request)
        if token is None:
            names = ", ".join(f"{source.kind}.{source.name}" for source in self._sources)
            return Refused(401, f"no token in {names}")
        started = time.monotonic()
        try:
            return await self._validate(token, started)
        except Exception as exc:  # the Authorizer contract: never raise
            log.exception("jwt authorizer failed")
            return Refused(500, f"jwt authorizer failed: {exc!r}")

    async def _validate(self, token: str, started: float) -> Authorized | Refused:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            return Refused(401, f"malformed token: {exc}")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            return Refused(401, f"alg {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            return Refused(401, "the token header has no kid")
        found = await self._keys.key(kid, algorithm)
        if isinstance(found, KeysUnavailable):
            log.warning("jwt authorizer has no keys: %s", found.reason)
            return Refused(500, found.reason)
        if isinstance(found, KeyMissing):
            return Refused(401, found.reason)
        try:
            claims = jwt.decode(
                token,
                key=found.key,
                algorithms=[algorithm],
                # Only the signature here: core.claims checks the claims, AWS's way.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                    "require": [],
                },
            )
        except jwt.PyJWTError as exc:
            return Refused(401, f"invalid token: {exc}")
        result = check_claims(claims, self._policy, self._clock())
        if isinstance(result, InvalidClaims):
            return Refused(401, result.reason)
        latency_ms = int((time.monotonic() - started) * 1000)
        return Authorized(jwt_authorizer_context(result, claims, latency_ms))

    async def aclose(self) -> None:
        """Release the key store's connections."""
        await self._keys.aclose()

"""Check a JWT's claims against a JWT authorizer's settings, and build its context.

Pure: the signature is checked elsewhere, and the time is passed in. The checks follow
AWS's HTTP-API JWT authorizer (CONTRACT §2.7): ``iss`` equals the issuer; ``aud`` (or,
without ``aud``, ``client_id``) is one of the audiences; ``exp`` is in the future and
``nbf`` is not; the token carries at least one required scope. wsgate adds: ``exp`` is
required, ``iat`` must not be in the future, a leeway, Cognito's ``token_use``, and a
required ``sub``, which becomes ``principalId`` (docs/jwt.md lists the differences).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, TypeGuard


__all__ = [
    "ClaimsPolicy",
    "InvalidClaims",
    "ValidClaims",
    "check_claims",
    "jwt_authorizer_context",
    "token_scopes",
]

TokenUse = Literal["id", "access"]


@dataclass(frozen=True, slots=True)
class ClaimsPolicy:
    """What a token's claims must say.

    ``token_use`` set means Cognito's ``token_use`` claim must equal it; for ``access``
    the audience is read from ``client_id``, where Cognito puts it in access tokens.
    ``required_scopes`` empty means no scope check; otherwise one of them must be present.
    ``leeway`` is in seconds and applies to ``exp``, ``nbf`` and ``iat``.
    """

    issuer: str
    audiences: frozenset[str]
    token_use: TokenUse | None = None
    required_scopes: frozenset[str] = frozenset()
    leeway: float = 0.0


@dataclass(frozen=True, slots=True)
class ValidClaims:
    """The claims passed: ``principal_id`` is ``sub``; ``scopes`` None when there is no claim."""

    principal_id: str
    scopes: list[str] | None


@dataclass(frozen=True, slots=True)
class InvalidClaims:
    """The claims failed a check; ``reason`` is for the log."""

    reason: str


def _is_time(value: object) -> TypeGuard[int | float]:
    # bool is an int to Python, and NaN would compare false with everything.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_times(claims: Mapping[str, object], now: float, leeway: float) -> str | None:
    exp = claims.get("exp")
    if exp is None:
        return "the token has no exp claim"
    if not _is_time(exp):
        return "exp is not a number"
    if now >= exp + leeway:
        return "the token has expired"
    for name, problem in (("nbf", "is not valid yet"), ("iat", "was issued in the future")):
        value = claims.get(name)
        if value is None:
            continue
        if not _is_time(value):
            return f"{name} is not a number"
        if value > now + leeway:
            return f"the token {problem} ({name})"
    return None


def _check_audience(claims: Mapping[str, object], policy: ClaimsPolicy) -> str | None:
    if policy.token_use == "access":
        # Cognito access tokens carry the app client in client_id and have no aud.
        client_id = claims.get("client_id")
        if isinstance(client_id, str) and client_id in policy.audiences:
            return None
        return "client_id is not one of the audiences"
    aud = claims.get("aud")
    if aud is None:
        client_id = claims.get("client_id")
        if isinstance(client_id, str) and client_id in policy.audiences:
            return None
        return "the token has neither an aud nor a client_id of the audiences"
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return "aud is neither a string nor a list of strings"
    if any(value in policy.audiences for value in values):
        return None
    return "aud is not one of the audiences"


def token_scopes(claims: Mapping[str, object]) -> list[str] | None | InvalidClaims:
    """Return the scopes of ``scope`` (space-separated) or else ``scp`` (a list or a string).

    None when the token has neither claim; InvalidClaims when the claim has another type.
    """
    for name in ("scope", "scp"):
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        return InvalidClaims(f"{name} is neither a string nor a list of strings")
    return None


def check_claims(
    claims: Mapping[str, object], policy: ClaimsPolicy, now: float
) -> ValidClaims | InvalidClaims:
    """Check ``claims`` (of a token whose signature is already verified) at time ``now``.

    Args:
        claims: the token's payload.
        policy: what the claims must say.
        now: the current time in epoch seconds.
    """
    if claims.get("iss") != policy.issuer:
        return InvalidClaims(f"iss {claims.get('iss')!r} is not the issuer")
    problem = _check_audience(claims, policy) or _check_times(claims, now, policy.leeway)
    if problem is not None:
        return InvalidClaims(problem)
    if policy.token_use is not None and claims.get("token_use") != policy.token_use:
        return InvalidClaims(f"token_use {claims.get('token_use')!r} is not {policy.token_use!r}")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return InvalidClaims("the token has no sub claim")
    scopes = token_scopes(claims)
    if isinstance(scopes, InvalidClaims):
        return scopes
    if policy.required_scopes and not _has_any(scopes, policy.required_scopes):
        return InvalidClaims("the token has none of the required scopes")
    return ValidClaims(subject, scopes)


def _has_any(scopes: list[str] | None, required: Collection[str]) -> bool:
    return scopes is not None and any(scope in required for scope in scopes)


def jwt_authorizer_context(
    valid: ValidClaims, claims: Mapping[str, object], integration_latency_ms: int
) -> dict[str, object]:
    """Build ``requestContext.authorizer`` for every event of the connection.

    ``{"principalId": sub, "integrationLatency": ms, "jwt": {"claims": {...}, "scopes": [...]}}``:
    the keys a REQUEST authorizer's context has, plus AWS's HTTP-API JWT shape under ``jwt``.
    Claim values are kept as decoded JSON (AWS's HTTP APIs turn them into strings).
    """
    return {
        "principalId": valid.principal_id,
        "integrationLatency": integration_latency_ms,
        "jwt": {"claims": dict(claims), "scopes": valid.scopes},
    }

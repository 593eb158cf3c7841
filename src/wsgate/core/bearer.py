"""Where a JWT authorizer finds its token: the first identity source present, minus ``Bearer``.

AWS's JWT authorizer takes the token alone or prefixed with ``Bearer `` (CONTRACT §2.7).
Browsers cannot set headers on a WebSocket, so a query parameter is a common source too.
"""

from __future__ import annotations

from collections.abc import Sequence

from wsgate.core.identity import IdentitySource, read_identity
from wsgate.core.request import HandshakeRequest


__all__ = ["bearer_token", "find_token"]

_SCHEME = "bearer"


def bearer_token(value: str) -> str | None:
    """Return ``value`` without a leading ``Bearer`` scheme (any case), or None when empty.

    ``"Bearer abc"`` and ``"abc"`` both give ``"abc"``; ``"Bearer"`` and ``"Bearer  "``
    give None, so that a bare scheme counts as a missing token.
    """
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == _SCHEME:
        text = rest.strip()
    return text or None


def find_token(sources: Sequence[IdentitySource], request: HandshakeRequest) -> str | None:
    """Return the token from the first source that holds one, or None when none does."""
    for source in sources:
        value = read_identity(source, request)
        if value is not None:
            token = bearer_token(value)
            if token is not None:
                return token
    return None

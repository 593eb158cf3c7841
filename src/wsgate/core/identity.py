"""Identity sources of a REQUEST authorizer: parse them, read them, find the missing ones.

AWS answers the handshake with 401, without invoking the authorizer, when any configured
source is absent or empty (CONTRACT §2.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from wsgate.core.request import HandshakeRequest


__all__ = ["IdentitySource", "missing_identity", "parse_identity_source", "read_identity"]

_HEADER_PREFIX = "route.request.header."
_QUERY_PREFIX = "route.request.querystring."
_ACCEPTED = "'route.request.header.<Name>' or 'route.request.querystring.<name>'"
# RFC 9110 token characters: what a header name may contain.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class IdentitySource:
    """One identity source: a header (matched case-insensitively) or a query parameter."""

    kind: Literal["header", "querystring"]
    name: str


def parse_identity_source(text: str) -> IdentitySource:
    """Parse ``route.request.header.NAME`` or ``route.request.querystring.NAME``.

    Raises:
        ValueError: for anything else; the message names the text and the accepted forms.
    """
    if text.startswith(_HEADER_PREFIX):
        name = text[len(_HEADER_PREFIX) :]
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"invalid identity source {text!r}: {name!r} is not a valid header name; "
                f"expected {_ACCEPTED}"
            )
        return IdentitySource("header", name)
    if text.startswith(_QUERY_PREFIX):
        name = text[len(_QUERY_PREFIX) :]
        if not name:
            raise ValueError(
                f"invalid identity source {text!r}: the query parameter name is empty; "
                f"expected {_ACCEPTED}"
            )
        return IdentitySource("querystring", name)
    hint = ""
    if text.startswith("$request."):
        # The HTTP-API spelling; a common copy-paste mistake.
        hint = " ('$request...' is the HTTP API syntax)"
    raise ValueError(f"invalid identity source {text!r}{hint}: expected {_ACCEPTED}")


def read_identity(source: IdentitySource, request: HandshakeRequest) -> str | None:
    """Return the source's value in ``request``, or None when it is absent or empty.

    Header names match case-insensitively, query names case-sensitively; for repeated
    names the last value wins.
    """
    if source.kind == "header":
        value = request.header(source.name)
    else:
        value = None
        for key, item in request.query:
            if key == source.name:
                value = item
    return value or None


def missing_identity(
    sources: Sequence[IdentitySource], request: HandshakeRequest
) -> list[IdentitySource]:
    """Return the sources that are absent or empty in ``request`` (none for no sources)."""
    missing = []
    for source in sources:
        if read_identity(source, request) is None:
            missing.append(source)
    return missing

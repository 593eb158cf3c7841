"""Identifiers in AWS's formats: connection/request/message ids and API ids."""

from __future__ import annotations

import base64
import hashlib
import secrets


__all__ = ["api_id_for", "new_id"]

_API_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_API_ID_LENGTH = 10


def new_id() -> str:
    """Return a fresh 16-character URL-safe base64 id, e.g. ``L0SM9cOFvHcCIhw=``.

    AWS uses this shape for ``connectionId``, ``requestId`` (= ``extendedRequestId``) and
    ``messageId``: 11 random bytes, so the encoding always ends with one ``=``.
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def api_id_for(name: str) -> str:
    """Return a stable 10-character ``[a-z0-9]`` API id derived from the API's name.

    Used when the configuration names no ``apiId``: the same name always yields the same
    id, so restarts keep ``requestContext.apiId`` (and the authorizer's ``methodArn``) stable.
    """
    number = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    digits = []
    for _ in range(_API_ID_LENGTH):
        number, digit = divmod(number, len(_API_ID_ALPHABET))
        digits.append(_API_ID_ALPHABET[digit])
    return "".join(digits)

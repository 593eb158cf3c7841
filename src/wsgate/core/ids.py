"""Identifiers in AWS's formats: connection/request/message ids and API ids."""

from __future__ import annotations

import base64
import hashlib
import secrets


__all__ = ["api_id_for", "new_id"]

_API_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_API_ID_LENGTH = 10


_ID_BYTES = 11
# Ids made in batches from one draw of the OS's random source: every message needs two,
# and a system call plus an encoding per id was one of the larger costs of a round trip.
_BATCH = 256
_SLOT = _ID_BYTES + 1
_ready: list[str] = []


def _refill() -> None:
    """Add a batch of fresh ids to ``_ready``.

    Each id gets 12 bytes whose last is zero, so the whole batch is encoded in one call
    and every 16 characters are one id: the first 15 are exactly those of the 11 random
    bytes' encoding, and the 16th (``A``, zero bits) becomes the ``=`` of its padding.

    Safe without a lock: ``list.pop`` and ``list.extend`` are atomic, so no id is handed
    out twice, and two threads refilling at once only add two batches.
    """
    data = bytearray(secrets.token_bytes(_SLOT * _BATCH))
    data[_ID_BYTES::_SLOT] = bytes(_BATCH)
    text = base64.urlsafe_b64encode(data).decode("ascii")
    _ready.extend([text[start : start + 15] + "=" for start in range(0, len(text), 16)])


def new_id() -> str:
    """Return a fresh 16-character URL-safe base64 id, e.g. ``L0SM9cOFvHcCIhw=``.

    AWS uses this shape for ``connectionId``, ``requestId`` (= ``extendedRequestId``) and
    ``messageId``: 11 bytes from ``secrets``, so the encoding always ends with one ``=``.
    """
    while True:
        try:
            return _ready.pop()
        except IndexError:
            _refill()


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

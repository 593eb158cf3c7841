"""Identifiers in AWS's formats: connection/request/message ids and API ids."""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets


__all__ = ["api_id_for", "new_id"]

_API_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_API_ID_LENGTH = 10


_ID_BYTES = 11
# Ids drawn from one call to the OS's random source: every message needs two ids, and a
# system call per id was one of the larger costs of a round trip.
_BATCH = 256


class _RandomPool:
    """Hands out 11-byte slices of a batch of ``secrets`` bytes, each slice at most once.

    Lock-free across threads: a batch travels with its own counter, and ``next()`` on an
    ``itertools.count`` is atomic, so no index is given twice; a refill that races another
    only drops the unused rest of a batch.
    """

    def __init__(self) -> None:
        self._batch: tuple[bytes, itertools.count[int]] = (b"", itertools.count(_BATCH))

    def take(self) -> bytes:
        while True:
            data, counter = self._batch
            index = next(counter)
            if index < _BATCH:
                start = index * _ID_BYTES
                return data[start : start + _ID_BYTES]
            self._batch = (secrets.token_bytes(_ID_BYTES * _BATCH), itertools.count())


_pool = _RandomPool()


def new_id() -> str:
    """Return a fresh 16-character URL-safe base64 id, e.g. ``L0SM9cOFvHcCIhw=``.

    AWS uses this shape for ``connectionId``, ``requestId`` (= ``extendedRequestId``) and
    ``messageId``: 11 bytes from ``secrets``, so the encoding always ends with one ``=``.
    """
    return base64.urlsafe_b64encode(_pool.take()).decode("ascii")


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

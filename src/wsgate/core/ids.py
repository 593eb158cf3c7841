"""Identifiers in AWS's formats: connection/request/message ids and API ids."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import secrets


__all__ = [
    "NODE_TAG_LENGTH",
    "api_id_for",
    "format_uuid4",
    "new_id",
    "new_node_tag",
    "new_uuid",
    "tagged_id",
]

_API_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_API_ID_LENGTH = 10


_ID_BYTES = 11
# Ids made in batches from one draw of the OS's random source: every message needs two,
# and a system call plus an encoding per id was one of the larger costs of a round trip.
_BATCH = 256
_SLOT = _ID_BYTES + 1
_ID_CHARS = 16
_LINE = _ID_CHARS + 1  # an id and its newline
_ready: list[str] = []


def _refill() -> None:
    """Add a batch of fresh ids to ``_ready``.

    Each id gets 12 bytes whose last is zero, so the whole batch is encoded in one call
    and every 16 characters are one id: the first 15 are exactly those of the 11 random
    bytes' encoding, and the 16th (``A``, zero bits) becomes the ``=`` of its padding.
    The ids are then cut apart by ``str.split`` on a newline put after each one (by
    strided copies): one string made per id in C, where slicing made two in Python.

    Safe without a lock: ``list.pop`` and ``list.extend`` are atomic, so no id is handed
    out twice, and two threads refilling at once only add two batches.
    """
    data = bytearray(secrets.token_bytes(_SLOT * _BATCH))
    data[_ID_BYTES::_SLOT] = bytes(_BATCH)
    encoded = base64.urlsafe_b64encode(data)
    lines = bytearray(_LINE * _BATCH)
    for column in range(_ID_CHARS - 1):
        lines[column::_LINE] = encoded[column::_ID_CHARS]
    lines[_ID_CHARS - 1 :: _LINE] = b"=" * _BATCH
    lines[_ID_CHARS::_LINE] = b"\n" * _BATCH
    _ready.extend(lines.decode("ascii").split("\n")[:_BATCH])


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


# The request ids of the management API and the Invoke API: they must be unique, not
# secret, so a generator seeded from the OS (again in a forked child) draws them; uuid4
# costs a system call, and building a uuid.UUID to format one 18,000 instructions.
_uuid_bits = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _uuid_bits.seed(os.urandom(32)))
_UUID4_KEEP = (1 << 128) - 1 - (0xF000 << 64) - (0xC000 << 48)
"""Every bit of a random 128 but the version's four and the variant's two."""
_UUID4_MARKS = (4 << 76) | (0x8000 << 48)
"""Version 4, variant RFC 4122 (``10`` in the variant's two bits)."""


def format_uuid4(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` for a 128-bit ``bits``, without the class."""
    digits = f"{(bits & _UUID4_KEEP) | _UUID4_MARKS:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_uuid() -> str:
    """A fresh version-4 UUID in its usual spelling, as AWS's request ids are, e.g.
    ``9c3a4f0e-2b1d-4e8a-9f6b-0d2c5e7a1b3f``."""
    return format_uuid4(_uuid_bits.getrandbits(128))


NODE_TAG_LENGTH = 4
"""Characters of a connectionId that name the node holding it: its first 3 bytes."""


def new_node_tag() -> str:
    """A random node tag: 4 URL-safe base64 characters (24 bits)."""
    return new_id()[:NODE_TAG_LENGTH]


def tagged_id(tag: str) -> str:
    """A fresh connectionId in ``new_id``'s shape whose first 4 characters are ``tag``.

    Four base64 characters are exactly three bytes, so the id is still 11 bytes encoded,
    the last 8 of them random: opaque as AWS's, and any node reads the owner from it
    without asking Redis. A node only takes it as a hint (see ``registry.peers``).
    """
    return tag + new_id()[NODE_TAG_LENGTH:]


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

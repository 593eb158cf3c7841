"""The link's handshake: both ends prove that they hold the cluster's secret, without
sending it. Pure: no I/O.

The secret is kept in Redis (``redis_keys.Keys.secret``, set once by the first node), so
whoever cannot read the cluster's Redis cannot open a link, and a node that reaches a
stale address (another process there now) finds out before sending anything.

    server -> client   CHALLENGE  b"C" nonce_s(16) server_node_id
    client -> server   PROOF      b"P" nonce_c(16) hmac_c(32) client_node_id
    server -> client   ACCEPT     b"A" hmac_s(32)

``hmac_c`` and ``hmac_s`` are HMAC-SHA256 under the secret of both nonces and both node
ids, each with its own label, so that neither proof can be replayed as the other nor on
another connection.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


__all__ = [
    "NONCE_BYTES",
    "Challenge",
    "Proof",
    "accept",
    "challenge",
    "client_mac",
    "matches",
    "new_nonce",
    "proof",
    "read_accept",
    "read_challenge",
    "read_proof",
    "server_mac",
]

NONCE_BYTES = 16
_MAC_BYTES = 32
_MAX_NODE_ID = 64


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: bytes
    node_id: str


@dataclass(frozen=True, slots=True)
class Proof:
    nonce: bytes
    mac: bytes
    node_id: str


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def _mac(secret: bytes, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, label + b"\0".join(parts), hashlib.sha256).digest()


def client_mac(
    secret: bytes, server_nonce: bytes, client_nonce: bytes, server: str, client: str
) -> bytes:
    """The asking node's proof: ``server`` and ``client`` are the two ends' node ids."""
    parts = (server_nonce, client_nonce, server.encode(), client.encode())
    return _mac(secret, b"wsgate link client\0", *parts)


def server_mac(
    secret: bytes, server_nonce: bytes, client_nonce: bytes, server: str, client: str
) -> bytes:
    """The owning node's answer to a good proof."""
    parts = (server_nonce, client_nonce, server.encode(), client.encode())
    return _mac(secret, b"wsgate link server\0", *parts)


def challenge(nonce: bytes, node_id: str) -> bytes:
    return b"C" + nonce + node_id.encode()


def proof(nonce: bytes, mac: bytes, node_id: str) -> bytes:
    return b"P" + nonce + mac + node_id.encode()


def accept(mac: bytes) -> bytes:
    return b"A" + mac


def _node_id(raw: bytes) -> str:
    if not 0 < len(raw) <= _MAX_NODE_ID:
        raise ValueError("a node id of the wrong length")
    return raw.decode("ascii")


def read_challenge(body: bytes) -> Challenge:
    """Raises ValueError: not a challenge."""
    if body[:1] != b"C" or len(body) < 1 + NONCE_BYTES:
        raise ValueError("expected the link's challenge")
    return Challenge(body[1 : 1 + NONCE_BYTES], _node_id(body[1 + NONCE_BYTES :]))


def read_proof(body: bytes) -> Proof:
    """Raises ValueError: not a proof."""
    start = 1 + NONCE_BYTES + _MAC_BYTES
    if body[:1] != b"P" or len(body) < start:
        raise ValueError("expected the link's proof")
    return Proof(body[1 : 1 + NONCE_BYTES], body[1 + NONCE_BYTES : start], _node_id(body[start:]))


def read_accept(body: bytes) -> bytes:
    """The server's MAC. Raises ValueError: not an accept."""
    if body[:1] != b"A" or len(body) != 1 + _MAC_BYTES:
        raise ValueError("the link was refused")
    return body[1:]


def matches(expected: bytes, given: bytes) -> bool:
    """Compared in constant time."""
    return hmac.compare_digest(expected, given)

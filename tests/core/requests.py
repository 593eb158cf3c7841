"""A handshake snapshot for the pure tests that read identity sources and tokens."""

from __future__ import annotations

from wsgate.core.request import HandshakeRequest


def make_request(
    headers: tuple[tuple[str, str], ...] = (), query: tuple[tuple[str, str], ...] = ()
) -> HandshakeRequest:
    return HandshakeRequest(
        headers=headers,
        query=query,
        has_query=bool(query),
        source_ip="192.0.2.1",
        port=443,
        scheme="https",
    )

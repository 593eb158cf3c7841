"""The HTTP side of a WebSocket opening handshake (RFC 6455 §4.2), as pure functions.

The gateway reads upgrade requests itself instead of through a web framework's request
objects: an upgrade is one small GET whose answer is either ``101`` or a short refusal,
and building a general-purpose request and response for it cost more than the rest of
the handshake. Anything that is not an upgrade to the API is handed, bytes untouched, to
the HTTP server behind (see ``server.frontdoor``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

import orjson


__all__ = [
    "MAX_HEAD_BYTES",
    "BadRequest",
    "RequestHead",
    "accept_key",
    "is_valid_key",
    "parse_head",
    "parse_query",
    "path_segment",
    "refusal",
    "switching_protocols",
]

MAX_HEAD_BYTES = 16 * 1024
"""The longest request line plus headers accepted; AWS allows 10 KB of headers."""

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BadRequest(ValueError):
    """The request head is not HTTP/1.1 as RFC 9112 spells it."""


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request line and its headers, as sent.

    ``headers`` keeps each name's case, the order and duplicates; ``path`` is the target
    before any ``?``, still percent-encoded, and ``query`` is what follows the ``?`` or
    None when there was none (a bare ``?`` gives ``""``).
    """

    method: str
    path: str
    query: str | None
    headers: tuple[tuple[str, str], ...]

    def header(self, lowered_name: str) -> str | None:
        """The last value of the header whose lower-cased name is ``lowered_name``."""
        found: str | None = None
        for name, value in self.headers:
            if name.lower() == lowered_name:
                found = value
        return found


def parse_head(head: bytes) -> RequestHead:
    """Parse a request head (without its final blank line).

    Raises:
        BadRequest: the request line or a header is malformed.
    """
    try:
        text = head.decode()  # clients send UTF-8 in header values, as AWS passes them on
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(f"bad request line: {lines[0][:100]!r}")
    method, target, _version = parts
    if not target.startswith("/"):
        raise BadRequest("request target must be a path")
    path, mark, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        # No space before the colon and no folded lines (RFC 9112 §5.1, §5.2).
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise BadRequest(f"bad header line: {line[:100]!r}")
        headers.append((name, value.strip(" \t")))
    return RequestHead(
        method=method,
        path=path,
        query=query if mark else None,
        headers=tuple(headers),
    )


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """Decode a query string into its pairs, in order, keeping blank values."""
    if not query:
        return ()
    if "%" not in query:
        # Nothing to decode but '+'.
        pairs = []
        for item in query.replace("+", " ").split("&"):
            if item:
                name, _, value = item.partition("=")
                pairs.append((name, value))
        return tuple(pairs)
    return tuple(parse_qsl(query, keep_blank_values=True))


def path_segment(path: str) -> str | None:
    """The one segment of ``/{segment}`` (decoded), ``""`` for ``/``, None for deeper paths."""
    segment = path[1:]
    if "/" in segment:
        return None
    return unquote(segment) if "%" in segment else segment


def is_valid_key(key: str) -> bool:
    """Whether ``Sec-WebSocket-Key`` is base64 of 16 bytes, as RFC 6455 §4.1 requires."""
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def switching_protocols(key: str, subprotocol: str | None) -> bytes:
    """The ``101`` answer that opens the WebSocket."""
    lines = (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
    )
    if subprotocol:
        lines += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    return (lines + "\r\n").encode("latin-1")


_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    426: "Upgrade Required",
    429: "Too many connections",
    431: "Request Header Fields Too Large",
    500: "Internal server error",
    502: "Internal server error",
    503: "Service unavailable",
    504: "Endpoint request timed out",
}


def _refusal(status: int) -> bytes:
    message = _MESSAGES.get(status)
    body = orjson.dumps({"message": message}) if message else b""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    extra = "Upgrade: websocket\r\n" if status == 426 else ""
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# Refusals are the same bytes every time: built once per status.
_REFUSALS: dict[int, bytes] = {}


def refusal(status: int) -> bytes:
    """A whole HTTP response refusing the upgrade with ``status``, AWS's JSON body."""
    answer = _REFUSALS.get(status)
    if answer is None:
        answer = _REFUSALS[status] = _refusal(status)
    return answer

"""The few HTTP/1.1 framing rules the front door needs to answer management calls itself.

The management API's calls are small requests with a ``Content-Length`` body (or none) on
kept-alive connections. The front door answers those; anything framed otherwise (chunked,
``Expect: 100-continue``, HTTP/1.0, a body over the API's limit) goes to aiohttp, which
implements all of HTTP/1.1.
"""

from __future__ import annotations

import email.utils
import functools
from http import HTTPStatus


__all__ = ["http_date", "plain_body_length", "response", "wants_close", "wire_headers"]


def plain_body_length(headers: dict[str, str], most: int) -> int | None:
    """The body's length when it is framed by one ``Content-Length`` of at most ``most``
    bytes (0 without one), or None when the request needs a full HTTP server.

    ``headers`` maps lower-cased names to values (a repeated name is not expected here:
    the caller hands such requests on).
    """
    if "transfer-encoding" in headers or "expect" in headers:
        return None
    text = headers.get("content-length")
    if text is None:
        return 0
    if not text.isdigit() or len(text) > 9:
        return None
    length = int(text)
    return length if length <= most else None


def wants_close(headers: dict[str, str]) -> bool:
    """Whether the client asked for the connection to end after this request."""
    return "close" in headers.get("connection", "").lower()


_REASONS = {status.value: status.phrase for status in HTTPStatus}


@functools.lru_cache(maxsize=2)
def http_date(second: int) -> str:
    """The ``Date`` header for a second, made once per second rather than per response."""
    return email.utils.formatdate(second, usegmt=True)


def wire_headers(
    status: int, headers: dict[str, str], body: bytes, now: int, server: str
) -> dict[str, str]:
    """``headers`` plus what goes on the wire with them, as aiohttp writes it:
    ``Content-Length`` (none for a 204, RFC 9110 §8.6), ``Date`` for epoch second ``now``
    and ``Server``."""
    wire = dict(headers)
    if status != 204:
        wire["Content-Length"] = str(len(body))
    wire["Date"] = http_date(now)
    wire["Server"] = server
    return wire


def response(
    status: int, headers: dict[str, str], body: bytes, close: bool, now: int, server: str
) -> bytes:
    """A whole HTTP/1.1 response: ``wire_headers``, and ``Connection: close`` if asked."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    wire = wire_headers(status, headers, body, now, server)
    lines.extend(f"{name}: {value}" for name, value in wire.items())
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

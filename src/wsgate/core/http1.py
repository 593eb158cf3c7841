"""The HTTP/1.1 message rules the front door needs: how a request's body is framed, and
its own answers to management calls.

The management API's calls are small requests with a ``Content-Length`` body (or none) on
kept-alive connections. The front door answers those; anything framed otherwise (chunked,
``Expect: 100-continue``, HTTP/1.0, a body over the API's limit) goes to aiohttp, which
implements all of HTTP/1.1. Whoever answers, the framing is judged here first, strictly
(RFC 9112 §6): a request whose body two parsers could delimit differently is refused, as
is one without the single ``Host`` RFC 9112 §3.2 requires.
"""

from __future__ import annotations

import email.utils
import functools
import re
from http import HTTPStatus
from typing import NamedTuple

from wsgate.core.upgrade import BadRequest, RequestHead, list_tokens


__all__ = [
    "MAX_CONTENT_LENGTH_DIGITS",
    "Framing",
    "http_date",
    "request_framing",
    "response",
    "wire_headers",
]

MAX_CONTENT_LENGTH_DIGITS = 18
"""The longest ``Content-Length`` accepted, in digits. Under 2**63, so every parser on the
way (llhttp keeps 64 bits) reads the same number; nothing this long is a real body."""


class Framing(NamedTuple):
    """How a request's body is delimited, and whether the connection outlives it.

    A named tuple rather than a frozen dataclass: one is made for every request, and a
    tuple is made in a third of the time.
    """

    length: int | None
    """The body's length in bytes (0 without ``Content-Length``); None when chunked."""
    keep_alive: bool
    """The client may send another request on the connection (RFC 9112 §9.3)."""
    expect: bool
    """The request carries ``Expect``: answering it is the full HTTP server's job."""


# RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host is an IP literal, an IPv4
# address or a reg-name (RFC 3986 §3.2.2). Empty is allowed (RFC 9112 §3.2).
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?")
_NO_TOKENS: frozenset[str] = frozenset()
# The fields read here.
_FRAMING_FIELDS = frozenset(("host", "content-length", "transfer-encoding", "connection", "expect"))


def request_framing(head: RequestHead) -> Framing:
    """Check the fields that decide how ``head``'s request is framed and routed, and
    say how its body is delimited.

    Refused with 400 (RFC 9112 §3.2, §6.1, §6.3): an HTTP/1.1 request without ``Host``,
    any request with ``Host`` twice or an invalid one; ``Content-Length`` twice (even
    with equal values), not decimal digits, or longer than
    ``MAX_CONTENT_LENGTH_DIGITS``; ``Transfer-Encoding`` together with
    ``Content-Length``, in HTTP/1.0, or without ``chunked`` last (or with it twice).
    A coding before ``chunked`` is 501: nothing here decodes one.

    Raises:
        BadRequest: with the status refusing the request.
    """
    found = head.values(_FRAMING_FIELDS)
    http10 = head.version == "HTTP/1.0"
    _check_host(found.get("host"), http10)
    lengths, codings = found.get("content-length"), found.get("transfer-encoding")
    length: int | None
    if codings:
        if lengths:
            raise BadRequest("both Transfer-Encoding and Content-Length")
        if http10:
            raise BadRequest("Transfer-Encoding in HTTP/1.0")
        _check_codings(codings)
        length = None
    else:
        length = _content_length(lengths)
    connection = found.get("connection")
    tokens = list_tokens(connection) if connection else _NO_TOKENS
    # RFC 9112 §9.3: HTTP/1.1 persists unless told to close; HTTP/1.0 only when asked.
    keep_alive = "close" not in tokens and (not http10 or "keep-alive" in tokens)
    return Framing(length, keep_alive, "expect" in found)


def _check_host(hosts: list[str] | None, http10: bool) -> None:
    if hosts is None:
        if not http10:
            raise BadRequest("no Host")
        return
    if len(hosts) > 1:
        raise BadRequest("Host more than once")
    if _HOST.fullmatch(hosts[0]) is None:
        raise BadRequest(f"an invalid Host: {hosts[0][:100]!r}")


def _content_length(lengths: list[str] | None) -> int:
    if lengths is None:
        return 0
    if len(lengths) > 1:
        raise BadRequest("Content-Length more than once")
    text = lengths[0]
    # isdigit() alone would take other scripts' digits; int() would take '+', '_', ' '.
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"a Content-Length that is not a number: {text[:40]!r}")
    if len(text) > MAX_CONTENT_LENGTH_DIGITS:
        raise BadRequest(f"a Content-Length of {len(text)} digits")
    return int(text)


def _check_codings(lines: list[str]) -> None:
    codings = [token.strip(" \t").lower() for line in lines for token in line.split(",")]
    # RFC 9112 §6.3: only a final chunked says where the body ends.
    if codings[-1] != "chunked" or "chunked" in codings[:-1] or "" in codings:
        raise BadRequest(f"Transfer-Encoding without a single final chunked: {lines!r:.100}")
    if len(codings) > 1:
        raise BadRequest(f"a transfer coding not implemented: {lines!r:.100}", status=501)


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

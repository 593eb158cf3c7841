"""The HTTP side of a WebSocket opening handshake (RFC 6455 §4.2), as pure functions.

The gateway reads upgrade requests itself instead of through a web framework's request
objects: an upgrade is one small GET whose answer is either ``101`` or a short refusal,
and building a general-purpose request and response for it cost more than the rest of
the handshake. Anything that is not an upgrade to the API is handed to the HTTP server
behind (see ``server.frontdoor``), but only once its head has passed ``parse_head``: a
request this module and the server behind would read differently is a request that can
be smuggled past one of them, so the front door refuses it instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote

import orjson


__all__ = [
    "UPGRADE_FIELDS",
    "MAX_HEAD_BYTES",
    "BadRequest",
    "RequestHead",
    "accept_key",
    "is_valid_key",
    "list_tokens",
    "parse_head",
    "parse_query",
    "partial_head_fault",
    "path_segment",
    "refusal",
    "switching_protocols",
    "upgrade_refusal",
]

MAX_HEAD_BYTES = 16 * 1024
"""The longest request line plus headers accepted; AWS allows 10 KB of headers."""

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BadRequest(ValueError):
    """A request the front door must refuse, then close the connection: its head is not
    HTTP/1.1 as RFC 9112 spells it (400), or it asks for what no one here implements.

    The message says why, for the log; ``status`` is the answer's status.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


class RequestHead(NamedTuple):
    """A request line and its headers, as sent.

    A named tuple rather than a frozen dataclass: one is made for every request, and a
    frozen dataclass's ``__init__`` costs three times as much (callgrind: 11,600 against
    4,000 instructions for a management call's head).

    ``headers`` keeps each name's case, the order and duplicates; ``path`` is the target
    before any ``?``, still percent-encoded, and ``query`` is what follows the ``?`` or
    None when there was none (a bare ``?`` gives ``""``). ``version`` is ``HTTP/1.1`` or
    ``HTTP/1.0``, the only two ``parse_head`` accepts.
    """

    method: str
    path: str
    query: str | None
    headers: tuple[tuple[str, str], ...]
    version: str = "HTTP/1.1"

    def header(self, lowered_name: str) -> str | None:
        """The last value of the header whose lower-cased name is ``lowered_name``."""
        found: str | None = None
        for name, value in self.headers:
            if name.lower() == lowered_name:
                found = value
        return found

    def values(self, lowered_names: frozenset[str]) -> dict[str, list[str]]:
        """Every value of the headers named in ``lowered_names`` (lower-cased), in order,
        by lower-cased name; a name that was not sent has no entry. One pass for all the
        names a check reads, so that it can count repeats."""
        found: dict[str, list[str]] = {}
        for name, value in self.headers:
            lowered = name.lower()
            if lowered in lowered_names:
                found.setdefault(lowered, []).append(value)
        return found


# RFC 9110 §5.6.2: a method and a field name are tokens.
_TCHAR = "[!#$%&'*+.^_`|~0-9A-Za-z-]"
# RFC 9112 §3: method SP request-target SP HTTP-version. The target must be origin-form
# (a path, RFC 9112 §3.2.1): the gateway is no proxy, and every other form is read
# differently by different servers. Visible ASCII only: clients percent-encode the rest.
_REQUEST_LINE = re.compile(rf"({_TCHAR}+) (/[\x21-\x7e]*) (HTTP/1\.[01])(?=\r\n|\Z)")
# RFC 9112 §5: field-name ":" OWS field-value OWS, the name a token with nothing between
# it and the colon. The value is what lies between the whitespace on either side: the
# greedy run backs off to its last character that is not whitespace. Its characters are
# checked in bytes (``_NOT_CONTROL``). Lines that do not match are skipped by
# ``findall``, which the line count in ``parse_head`` notices.
_FIELD_LINE = re.compile(rf"\r\n({_TCHAR}++):[ \t]*+((?:[^\r]*[^\r \t])?)")
# Every byte but the control characters (RFC 5234 CTL: 0x00-0x1F and 0x7F); deleting
# these from a head leaves its control characters, which must be CRLF pairs and HTABs.
_NOT_CONTROL = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_CRLF = b"\r\n"


def parse_head(head: bytes) -> RequestHead:
    """Parse a request head (without its final blank line), strictly (RFC 9112 §2-§5).

    Refused: a request line other than ``method SP /path SP HTTP/1.1`` (or ``HTTP/1.0``);
    a control character anywhere but HTAB in a value; a CR or LF that is not part of a
    CRLF; a field line that does not start with a token name followed by a colon (a
    space before the colon, an empty name, a folded line, whitespace before the first
    field). The checks are a few passes in C (``translate``, two regular expressions), not
    a loop over characters: upgrades and management calls are the hot path.

    Raises:
        BadRequest: the request line or a field line is malformed.
    """
    controls = head.translate(None, _NOT_CONTROL)
    try:
        text = head.decode()  # clients send UTF-8 in header values, as AWS passes them on
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    request_line = _REQUEST_LINE.match(text)
    if request_line is None:
        raise BadRequest(_fault(text))
    fields = _FIELD_LINE.findall(text, request_line.end())
    # Each field found began at its own CRLF and left behind it at most whitespace. When
    # the head holds exactly that many CRs and LFs and no other control character, every
    # line was a field line and no CR or LF stood alone: one comparison proves all of it.
    crlfs = _CRLF * len(fields)
    if controls != crlfs and controls.replace(b"\t", b"") != crlfs:
        raise BadRequest(_fault(text))
    method, target, version = request_line.groups()
    path, mark, query = target.partition("?")
    return RequestHead(method, path, query if mark else None, tuple(fields), version)


_TOKEN = re.compile(f"{_TCHAR}+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _fault(text: str) -> str:
    """What is wrong with a head ``parse_head`` refused, for the log; the slow path."""
    if "\n" in text.replace("\r\n", ""):
        return "a bare LF (lines must end with CRLF)"
    if "\r" in text.replace("\r\n", ""):
        return "a bare CR"
    first, *lines = text.split("\r\n")
    if _REQUEST_LINE.match(first) is None:
        return _request_line_fault(first)
    for line in lines:
        name, colon, value = line.partition(":")
        if line[:1] in (" ", "\t"):
            return f"a line folded or indented: {line[:100]!r}"
        if not colon:
            return f"a field line without a colon: {line[:100]!r}"
        if _TOKEN.fullmatch(name) is None:
            return f"a field name that is not a token: {name[:100]!r}"
        if _CONTROL.search(value):
            return f"a control character in the value of {name!r}"
    return "malformed head"


def _request_line_fault(line: str) -> str:
    parts = line.split(" ")
    if len(parts) == 3 and parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        return f"HTTP version not supported: {parts[2][:20]!r}"
    if len(parts) == 3 and parts[1][:1] != "/":
        return f"the request target is not a path: {parts[1][:100]!r}"
    return f"bad request line: {line[:100]!r}"


# What a head may hold: every byte but the control characters other than HTAB, CR, LF.
_HEAD_BYTES = _NOT_CONTROL + b"\t\r\n"


def partial_head_fault(partial: bytes) -> str | None:
    """Why the start of a head, still without its blank line, is already malformed; None
    while it may still become a good one.

    Without this a request with LF-only line endings, or bytes that are not HTTP at all
    (TLS on the plain port), would wait for a CRLFCRLF that never comes.
    """
    if partial.translate(None, _HEAD_BYTES):
        return "a control character in the head"
    pairs = partial.count(b"\r\n")
    if partial.count(b"\n") != pairs:
        return "a bare LF (lines must end with CRLF)"
    # A CR at the very end may still be followed by its LF.
    if partial.count(b"\r") - partial.endswith(b"\r") != pairs:
        return "a bare CR"
    first, crlf, _ = partial.partition(b"\r\n")
    if crlf:
        text = first.decode("latin-1")
        if _REQUEST_LINE.fullmatch(text) is None:
            return _request_line_fault(text)
    return None


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
    if len(key) != 24 or not key.isascii():  # b64decode raises ValueError on non-ASCII
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def list_tokens(lines: list[str]) -> set[str]:
    """The lower-cased tokens of a list field sent on ``lines`` (RFC 9110 §5.6.1), such as
    ``Connection``."""
    if len(lines) == 1 and "," not in lines[0]:
        return {lines[0].strip(" \t").lower()}  # the usual case, without the loops
    return {token.strip(" \t").lower() for line in lines for token in line.split(",")}


# The fields RFC 6455 §4.2.1 reads; each must come once (Connection may repeat: a list).
_HANDSHAKE_FIELDS = frozenset(
    ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version")
)


UPGRADE_FIELDS = _HANDSHAKE_FIELDS | frozenset(("user-agent", "sec-websocket-protocol"))
"""The fields a handshake reads: ``upgrade_refusal``'s and the two the gateway keeps."""


def upgrade_refusal(
    head: RequestHead, found: dict[str, list[str]] | None = None
) -> tuple[int, str] | None:
    """The status refusing ``head`` as a WebSocket opening handshake (RFC 6455 §4.1,
    §4.2.1) and why, or None when it is one.

    426, as AWS answers, when it does not ask for a WebSocket at all; 400 when it asks
    wrongly: over HTTP/1.0, with ``upgrade`` missing from the ``Connection`` tokens, with
    a key that is not base64 of 16 bytes, a version other than 13, or any of
    ``Upgrade``, ``Sec-WebSocket-Key``, ``Sec-WebSocket-Version`` more than once (the
    server behind a proxy could read another of them than the proxy did). ``found`` is
    ``head.values`` of these fields (or more, such as ``UPGRADE_FIELDS``), when the caller
    has it already.
    """
    if head.version != "HTTP/1.1":
        return 400, f"an upgrade needs HTTP/1.1, not {head.version}"
    if found is None:
        found = head.values(_HANDSHAKE_FIELDS)
    upgrades = found.get("upgrade", [])
    if len(upgrades) > 1:
        return 400, "Upgrade more than once"
    if head.method != "GET" or not upgrades or upgrades[0].lower() != "websocket":
        return 426, "not a WebSocket upgrade"
    if "upgrade" not in list_tokens(found.get("connection", [])):
        return 400, "no upgrade token in Connection"
    keys, versions = found.get("sec-websocket-key", []), found.get("sec-websocket-version")
    if len(keys) != 1 or not is_valid_key(keys[0]):
        return 400, "not one Sec-WebSocket-Key of 16 bytes in base64"
    if versions != ["13"]:
        return 400, "not one Sec-WebSocket-Version: 13"
    return None


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


def _refusal(status: int, websocket_version: bool) -> bytes:
    message = _MESSAGES.get(status)
    body = orjson.dumps({"message": message}) if message else b""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    extra = ""
    if status == 426:
        # RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
        extra = "Upgrade: websocket\r\n"
    if status == 426 or websocket_version:
        # RFC 6455 §4.2.2: the versions the server speaks, for a client that got it wrong.
        extra += "Sec-WebSocket-Version: 13\r\n"
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# Refusals are the same bytes every time: built once per status.
_REFUSALS: dict[tuple[int, bool], bytes] = {}


def refusal(status: int, *, websocket_version: bool = False) -> bytes:
    """A whole HTTP response refusing the upgrade with ``status``, AWS's JSON body;
    ``websocket_version`` adds ``Sec-WebSocket-Version: 13`` (a 426 always has it)."""
    answer = _REFUSALS.get((status, websocket_version))
    if answer is None:
        answer = _REFUSALS[status, websocket_version] = _refusal(status, websocket_version)
    return answer

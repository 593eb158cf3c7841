"""A management call's AWS Signature Version 4, checked as execute-api checks it.

The signature itself is computed by botocore's own signer, ``botocore.auth.SigV4Auth``,
on an ``AWSRequest`` rebuilt from the request received: its canonical request, string to
sign and signature are botocore's, so a signature boto3 makes is one this accepts. What is
here is what execute-api does around it: read the ``Authorization`` header (or a presigned
URL's ``X-Amz-*`` query parameters), the date and its 5-minute skew, the credential
scope (the API's region, service ``execute-api``), the key and its session token, and
compare the signatures in constant time. Each refusal is a :class:`Denial`: the
``x-amzn-ErrorType`` and message execute-api answers with (CONTRACT-RUNTIME.md §5).

botocore is imported when a :class:`SigV4Verifier` is built, that is only with
``management.auth: sigv4``; importing this module costs nothing.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_tz
from typing import Any, NamedTuple
from urllib.parse import unquote

from wsgate.exceptions import ConfigError


__all__ = [
    "ALGORITHM",
    "MAX_SKEW_SECONDS",
    "MISSING_TOKEN",
    "SERVICE",
    "Denial",
    "KeyPair",
    "SigV4Verifier",
]

SERVICE = "execute-api"
"""The signing name of ``apigatewaymanagementapi`` (botocore's model)."""
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 300
"""How far ``X-Amz-Date`` may be from the gateway's clock, either way (AWS: 5 minutes)."""
MAX_EXPIRES_SECONDS = 604800
"""The longest ``X-Amz-Expires`` of a presigned URL (AWS: 7 days)."""

_MISSING = "MissingAuthenticationTokenException"
_INCOMPLETE = "IncompleteSignatureException"
_INVALID = "InvalidSignatureException"
_UNRECOGNIZED = "UnrecognizedClientException"

_TIMESTAMP = re.compile(r"\d{8}T\d{6}Z")
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_SIGNED = "wsgate.signed_headers"
"""Where the rebuilt request carries the headers its sender signed, for the signer."""
_PRESIGN_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class Denial(NamedTuple):
    """Why a call is refused: execute-api's ``x-amzn-ErrorType`` and message (403)."""

    error_type: str
    message: str


MISSING_TOKEN = Denial(_MISSING, "Missing Authentication Token")
"""No signature at all; also execute-api's answer for a path it does not serve."""
_UNKNOWN_KEY = Denial(_UNRECOGNIZED, "The security token included in the request is invalid.")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A key the management API accepts signatures from; with a session token, requests
    signed with it must carry that token (``X-Amz-Security-Token``)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class _Signed:
    """What a request says about its signature, from its header or its query string."""

    credential: str
    signed_headers: str
    signature: str
    stamp: str
    """The request time as SigV4 writes it, ``YYYYMMDDTHHMMSSZ``."""
    when: float
    """The same, in seconds since the epoch."""
    token: str | None
    query: str | None
    """The query string as signed: a presigned URL's without its ``X-Amz-Signature``."""
    expires: int | None
    """A presigned URL's ``X-Amz-Expires``; None for a signed header."""


def _format(epoch: float) -> str:
    return time.strftime(_TIMESTAMP_FORMAT, time.gmtime(epoch))


def _parse_stamp(text: str) -> float | None:
    """``YYYYMMDDTHHMMSSZ`` in seconds since the epoch, or None."""
    if not _TIMESTAMP.fullmatch(text):
        return None
    try:  # datetime checks the ranges; strptime would cost a third of a verification
        moment = datetime.datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[9:11]),
            int(text[11:13]),
            int(text[13:15]),
            tzinfo=datetime.UTC,
        )
    except ValueError:  # 20261399T...: digits, but no date
        return None
    return moment.timestamp()


class _SignedHeaders(dict[str, list[str]]):
    """The signed headers by lower-cased name, each with its values as received: what
    ``SigV4Auth.canonical_headers`` reads (names, then ``get_all``), without building an
    ``email.message.Message``, botocore's own ``HTTPHeaders``."""

    def get_all(self, name: str) -> list[str]:
        return self[name]


def _bad_date(text: str) -> Denial:
    return Denial(
        _INCOMPLETE,
        f"Date must be in ISO-8601 'basic format'. Got '{text}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
    )


def _incomplete_header(value: str, params: dict[str, str], dated: bool) -> Denial | None:
    """AWS's list of what an ``Authorization`` header lacks, or None if it lacks nothing."""
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if not dated:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if not missing:
        return None
    return Denial(_INCOMPLETE, " ".join(missing) + f" Authorization={value}")


def _from_header(value: str, fields: dict[str, list[str]], query: str | None) -> _Signed | Denial:
    """Read ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
    and the request's date (``X-Amz-Date``, else ``Date``)."""
    algorithm, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    if algorithm == ALGORITHM:
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            name, equals, text = part.partition("=")
            if not equals:
                return Denial(
                    _INCOMPLETE,
                    f"'{part}' not a valid key=value pair (missing equal-sign) in "
                    f"Authorization header: '{value}'.",
                )
            params[name.strip()] = text.strip()
    amz_date = fields.get("x-amz-date")
    date = fields.get("date")
    incomplete = _incomplete_header(value, params, bool(amz_date or date))
    if incomplete is not None:
        return incomplete
    if amz_date:
        stamp = ",".join(amz_date)
        when = _parse_stamp(stamp)
        if when is None:
            return _bad_date(stamp)
    else:
        assert date  # _incomplete_header required one of the two
        parsed = parsedate_tz(",".join(date))
        if parsed is None:
            return _bad_date(",".join(date))
        when = float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))
        stamp = _format(when)
    token = fields.get("x-amz-security-token")
    return _Signed(
        credential=params["Credential"],
        signed_headers=params["SignedHeaders"],
        signature=params["Signature"],
        stamp=stamp,
        when=when,
        token=",".join(token) if token else None,
        query=query,
        expires=None,
    )


def _from_query(query: str) -> _Signed | Denial:
    """Read a presigned URL's ``X-Amz-*`` parameters."""
    params: dict[str, str] = {}
    kept = []
    for pair in query.split("&"):
        name, _, text = pair.partition("=")
        name = unquote(name)
        if name.startswith("X-Amz-"):
            params[name] = unquote(text)
        if name != "X-Amz-Signature":
            kept.append(pair)
    missing = [
        f"AWS query-string parameters must include '{name}'."
        for name in _PRESIGN_REQUIRED
        if not params.get(name)
    ]
    if missing:
        return Denial(_INCOMPLETE, " ".join(missing) + " Re-examine the query-string parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        return Denial(
            _INCOMPLETE,
            f'X-Amz-Algorithm only supports "{ALGORITHM}", not '
            f'"{params["X-Amz-Algorithm"]}". Re-examine the query-string parameters.',
        )
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 0 < int(expires) <= MAX_EXPIRES_SECONDS:
        return Denial(
            _INCOMPLETE,
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_EXPIRES_SECONDS}, "
            f"got '{expires}'.",
        )
    stamp = params["X-Amz-Date"]
    when = _parse_stamp(stamp)
    if when is None:
        return _bad_date(stamp)
    return _Signed(
        credential=params["X-Amz-Credential"],
        signed_headers=params["X-Amz-SignedHeaders"],
        signature=params["X-Amz-Signature"],
        stamp=stamp,
        when=when,
        token=params.get("X-Amz-Security-Token"),
        query="&".join(kept),
        expires=int(expires),
    )


def _presigned(query: str | None) -> bool:
    return query is not None and ("X-Amz-Signature=" in query or "X-Amz-Algorithm=" in query)


class SigV4Verifier:
    """Checks SigV4 signatures (service ``execute-api``, the API's region) against a set
    of key pairs. Built once at start; ``verify`` is safe from any thread."""

    def __init__(
        self,
        keys: Iterable[KeyPair],
        region: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build the signers, one per key pair.

        Raises:
            ConfigError: botocore is not installed, or two pairs share a key id.
        """
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError:
            raise ConfigError(
                "management.auth: sigv4 checks signatures with botocore, which is not "
                "installed: pip install botocore (boto3 brings it)"
            ) from None

        class Signer(SigV4Auth):  # type: ignore[misc]  # botocore has no type hints
            """botocore's signer, over exactly the headers the sender said it signed."""

            def headers_to_sign(self, request: Any) -> Any:
                return request.context[_SIGNED]

        self.region = region
        self._clock = clock
        self._request = AWSRequest
        self._keys: dict[str, tuple[Any, str | None]] = {}
        for key in keys:
            if key.access_key_id in self._keys:
                raise ConfigError(
                    f"management.credentials: access key id {key.access_key_id!r} is given twice"
                )
            credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
            self._keys[key.access_key_id] = (
                Signer(credentials, SERVICE, region),
                key.session_token,
            )

    @property
    def key_ids(self) -> list[str]:
        """The access key ids accepted, in the order they were given."""
        return list(self._keys)

    def verify(
        self,
        headers: Iterable[tuple[str, str]],
        method: str,
        path: str,
        query: str | None,
        body: bytes,
    ) -> Denial | None:
        """Whether a request is signed by one of the keys: None if it is, else why not.

        Args:
            headers: the request's header fields, names in any case, repeats kept.
            method: its method.
            path: its path as received, still percent-encoded, without the query.
            query: what followed the ``?``, as received; None without one.
            body: the whole body (its SHA-256 is the payload hash that was signed).
        """
        fields: dict[str, list[str]] = {}
        for name, value in headers:
            fields.setdefault(name.lower(), []).append(value)
        authorization = fields.get("authorization")
        if authorization:
            signed = _from_header(",".join(authorization), fields, query)
        elif query is not None and _presigned(query):
            signed = _from_query(query)
        else:
            return MISSING_TOKEN
        if isinstance(signed, Denial):
            return signed
        return self._check(signed, fields, method, path, body)

    def _check(
        self, signed: _Signed, fields: dict[str, list[str]], method: str, path: str, body: bytes
    ) -> Denial | None:
        stale = self._stale(signed)
        if stale is not None:
            return stale
        scope = signed.credential.split("/")
        if len(scope) != 5:
            return Denial(
                _INCOMPLETE,
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                f"keyid/date/region/service/term, got '{signed.credential}'",
            )
        key_id, day, region, service, terminator = scope
        if day != signed.stamp[:8]:
            return Denial(
                _INVALID,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{day}' != '{signed.stamp[:8]}', from '{signed.stamp}'.",
            )
        if region != self.region:
            return Denial(
                _INVALID, f"Credential should be scoped to a valid region, not '{region}'. "
            )
        if service != SERVICE:
            return Denial(
                _INVALID, f"Credential should be scoped to correct service: '{SERVICE}'. "
            )
        if terminator != "aws4_request":
            return Denial(
                _INVALID,
                "Credential should be scoped with a valid terminator: 'aws4_request', "
                f"not '{terminator}'. ",
            )
        names = signed.signed_headers.split(";")
        if "host" not in names:
            return Denial(
                _INCOMPLETE,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            )
        found = self._keys.get(key_id)
        if found is None:
            return _UNKNOWN_KEY
        signer, token = found
        if (token is None) != (signed.token is None) or (
            token is not None
            and signed.token is not None
            and not hmac.compare_digest(token.encode(), signed.token.encode())
        ):
            return _UNKNOWN_KEY
        request = self._rebuild(signed, fields, names, method, path, body)
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected: str = signer.signature(string_to_sign, request)
        if hmac.compare_digest(expected.encode(), signed.signature.encode()):
            return None
        return Denial(
            _INVALID,
            f"{_MISMATCH}\n\nThe Canonical String for this request should have been\n"
            f"'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n",
        )

    def _stale(self, signed: _Signed) -> Denial | None:
        """AWS's answer when the request time is out of bounds: 5 minutes either way of
        the clock, or a presigned URL's ``X-Amz-Expires`` seconds after it was signed."""
        now = self._clock()
        window = MAX_SKEW_SECONDS if signed.expires is None else signed.expires
        if signed.when < now - window:
            span = "5 min." if signed.expires is None else f"{signed.expires} sec."
            return Denial(
                _INVALID,
                f"Signature expired: {signed.stamp} is now earlier than "
                f"{_format(now - window)} ({_format(now)} - {span})",
            )
        if signed.when > now + MAX_SKEW_SECONDS:
            return Denial(
                _INVALID,
                f"Signature not yet current: {signed.stamp} is still later than "
                f"{_format(now + MAX_SKEW_SECONDS)} ({_format(now)} + 5 min.)",
            )
        return None

    def _rebuild(
        self,
        signed: _Signed,
        fields: dict[str, list[str]],
        names: list[str],
        method: str,
        path: str,
        body: bytes,
    ) -> Any:
        """The request as botocore's signer reads it: the signed headers as received
        (an absent one as empty), the path and query as received, and the payload hash
        of the body received (never a hash the request claims for itself)."""
        headers = _SignedHeaders()
        for name in names:
            headers[name] = fields.get(name, [""])
        # A '#' would end the path for urlsplit; it was part of what the client sent.
        url = "http://wsgate" + path.replace("#", "%23")
        if signed.query:
            url += "?" + signed.query.replace("#", "%23")
        request = self._request(
            method, url, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
        )
        request.context["timestamp"] = signed.stamp
        request.context[_SIGNED] = headers
        return request

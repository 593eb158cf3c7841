"""SigV4 verification of management calls, against signatures botocore itself makes."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from wsgate.exceptions import ConfigError
from wsgate.server.management import (
    MAX_POST_BYTES,
    NOT_SERVED,
    OPEN,
    ManagementAccess,
    check_access,
)
from wsgate.server.sigv4 import MISSING_TOKEN, Denial, KeyPair, SigV4Verifier


OLD = KeyPair("AKIDOLD", "old-secret")
NEW = KeyPair("AKIDNEW", "new-secret")
TEMPORARY = KeyPair("ASIATEMP", "temp-secret", "the-session-token")
HOST = "127.0.0.1:8080"
PATH = "/dev/@connections/L0SM9cOFvHcCIhw%3D"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class Call(NamedTuple):
    """A request as the gateway receives it."""

    headers: list[tuple[str, str]]
    method: str
    path: str
    query: str | None
    body: bytes

    def without(self, name: str) -> Call:
        kept = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        return self._replace(headers=kept)

    def with_header(self, name: str, value: str) -> Call:
        return self.without(name)._replace(headers=[*self.without(name).headers, (name, value)])


def _received(request: Any) -> Call:
    """What the wire carries of a request botocore signed: its Host header included."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = [("Host", HOST)]
    for name, value in prepared.headers.items():
        headers.append((name, value.decode() if isinstance(value, bytes) else value))
    body = prepared.body or b""
    return Call(headers, prepared.method, parts.path, parts.query or None, bytes(body))


def signed(
    method: str = "POST",
    body: bytes = b"hello",
    *,
    key: KeyPair = NEW,
    region: str = "us-east-1",
    service: str = "execute-api",
    path: str = PATH,
    query: str | None = None,
    headers: dict[str, str] | None = None,
) -> Call:
    """A call signed by botocore's signer, as boto3 signs one."""
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method, url, data=body, headers=headers or {})
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
    SigV4Auth(credentials, service, region).add_auth(request)
    return _received(request)


def presigned(method: str = "GET", *, key: KeyPair = NEW, expires: int = 60) -> Call:
    """A presigned URL botocore's query signer makes, requested without a body."""
    request = AWSRequest(method, f"http://{HOST}{PATH}", headers={})
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
    SigV4QueryAuth(credentials, "execute-api", "us-east-1", expires=expires).add_auth(request)
    return _received(request)


def verifier(clock: Callable[[], float] = time.time) -> SigV4Verifier:
    return SigV4Verifier([OLD, NEW, TEMPORARY], "us-east-1", clock=clock)


def check(call: Call, clock: Callable[[], float] = time.time) -> Denial | None:
    return verifier(clock).verify(call.headers, call.method, call.path, call.query, call.body)


def code_of(call: Call, clock: Callable[[], float] = time.time) -> str | None:
    denial = check(call, clock)
    return None if denial is None else denial.error_type


# --- accepted --------------------------------------------------------------------------


@pytest.mark.parametrize("key", [OLD, NEW, TEMPORARY], ids=["old", "new", "temporary"])
@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_every_configured_key_is_accepted(key: KeyPair, method: str) -> None:
    """A call signed with any configured key pair passes, so keys rotate without a pause."""
    body = b"hello" if method == "POST" else b""
    assert check(signed(method, body, key=key)) is None


def test_a_date_header_may_stand_for_x_amz_date() -> None:
    """botocore signs with the Date header when the request has one; so does AWS check."""
    call = signed(headers={"Date": "Thu, 01 Jan 2026 00:00:00 GMT"})
    assert "date" in dict((n.lower(), v) for n, v in call.headers)
    assert not any(n.lower() == "x-amz-date" for n, _ in call.headers)
    assert check(call) is None


def test_a_signed_payload_hash_equal_to_the_bodys_is_accepted() -> None:
    """x-amz-content-sha256, when signed and true, is the payload hash botocore uses."""
    digest = hashlib.sha256(b"hello").hexdigest()
    assert check(signed(headers={"X-Amz-Content-SHA256": digest})) is None


def test_a_query_string_is_part_of_what_is_signed() -> None:
    """The query is signed as sent; another value is refused."""
    call = signed("GET", b"", query="a=1&b=%2F")
    assert check(call) is None
    assert code_of(call._replace(query="a=2&b=%2F")) == "InvalidSignatureException"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_presigned_url_is_accepted_until_it_expires(method: str) -> None:
    """X-Amz-* query parameters (botocore's presigner) pass within X-Amz-Expires."""
    call = presigned(method, expires=60)
    assert check(call) is None
    later = check(call, lambda: time.time() + 61)
    assert later is not None and later.error_type == "InvalidSignatureException"
    assert later.message.startswith("Signature expired: ")
    assert later.message.endswith(" - 60 sec.)")


def test_a_presigned_url_with_a_session_token() -> None:
    """A temporary key's presigned URL carries its token as X-Amz-Security-Token."""
    assert check(presigned(key=TEMPORARY)) is None


# --- refused ---------------------------------------------------------------------------


def test_an_unsigned_call_is_missing_its_token() -> None:
    """No Authorization header and no presigned query: execute-api's first answer."""
    call = signed().without("Authorization")
    assert check(call) == Denial(
        "MissingAuthenticationTokenException", "Missing Authentication Token"
    )
    assert check(call) is MISSING_TOKEN


def test_a_wrong_secret_is_a_signature_mismatch_with_the_canonical_request() -> None:
    """AWS's message, then the canonical request and string to sign it expected."""
    denial = check(signed(key=KeyPair(NEW.access_key_id, "not-the-secret")))
    assert denial is not None and denial.error_type == "InvalidSignatureException"
    head, canonical = denial.message.split(
        "\n\nThe Canonical String for this request should have been\n"
    )
    assert head == MISMATCH
    assert canonical.startswith("'POST\n/dev/%40connections/L0SM9cOFvHcCIhw%253D\n\nhost:")
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in canonical


def test_an_unknown_key_is_an_unrecognized_client() -> None:
    denial = check(signed(key=KeyPair("AKIDWHO", "whatever")))
    assert denial == Denial(
        "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def test_the_scope_must_name_the_apis_region_and_execute_api() -> None:
    """Region and service are AWS's own messages, trailing space included."""
    assert check(signed(region="eu-west-1")) == Denial(
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    )
    assert check(signed(service="apigateway")) == Denial(
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'execute-api'. ",
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda call: call._replace(body=b"HELLO"),
        lambda call: call._replace(path="/dev/@connections/AAAAAAAAAAAAAAA%3D"),
        lambda call: call._replace(method="DELETE"),
        lambda call: call._replace(query="x=1"),
        lambda call: call.with_header("Host", "evil.example"),
    ],
    ids=["body", "path", "method", "query", "host"],
)
def test_a_tampered_call_is_refused(tamper: Callable[[Call], Call]) -> None:
    """Method, path, query, signed headers and payload hash are all covered."""
    call = signed()
    assert check(call) is None
    assert code_of(tamper(call)) == "InvalidSignatureException"


@given(st.binary(max_size=64))
def test_any_other_body_is_refused(body: bytes) -> None:
    """The payload hash is the received body's: only the signed body passes."""
    call = signed(body=b"the signed body")
    outcome = check(call._replace(body=body))
    assert (outcome is None) == (body == b"the signed body")


def test_a_payload_hash_the_body_does_not_have_is_refused() -> None:
    """x-amz-content-sha256 is never taken on trust: UNSIGNED-PAYLOAD, or a hash of
    another body, does not cover the body received."""
    assert code_of(signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})) == (
        "InvalidSignatureException"
    )
    lie = hashlib.sha256(b"hello").hexdigest()
    call = signed(headers={"X-Amz-Content-SHA256": lie})
    assert code_of(call._replace(body=b"HELLO")) == "InvalidSignatureException"


def test_an_unsigned_header_may_change_but_a_signed_one_may_not_go() -> None:
    """Headers outside SignedHeaders are free; a signed one that is absent fails."""
    call = signed(headers={"X-Wsgate-Test": "1"})
    assert check(call.with_header("User-Agent", "changed")) is None
    assert code_of(call.without("X-Wsgate-Test")) == "InvalidSignatureException"


def test_host_must_be_signed() -> None:
    call = signed()
    authorization = dict(call.headers)["Authorization"].replace(
        "SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date"
    )
    assert check(call.with_header("Authorization", authorization)) == Denial(
        "IncompleteSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    )


def test_the_date_is_within_five_minutes_of_the_clock() -> None:
    """Expired and not-yet-current dates, in AWS's words, both InvalidSignatureException."""
    call = signed()
    stamp = dict(call.headers)["X-Amz-Date"]
    signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    assert check(call, lambda: signed_at + 299) is None
    expired = check(call, lambda: signed_at + 301)
    assert expired is not None and expired.error_type == "InvalidSignatureException"
    earlier = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at + 1))
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at + 301))
    assert expired.message == (
        f"Signature expired: {stamp} is now earlier than {earlier} ({now} - 5 min.)"
    )
    future = check(call, lambda: signed_at - 301)
    assert future is not None and future.error_type == "InvalidSignatureException"
    assert future.message.startswith(f"Signature not yet current: {stamp} is still later than ")
    assert future.message.endswith(" + 5 min.)")


def test_the_credential_date_must_be_the_requests() -> None:
    call = signed()
    fields = dict(call.headers)
    stamp = fields["X-Amz-Date"]
    other_day = "19991231"
    authorization = fields["Authorization"].replace(f"/{stamp[:8]}/", f"/{other_day}/")
    denial = check(call.with_header("Authorization", authorization))
    assert denial == Denial(
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
        f"from HTTP: '{other_day}' != '{stamp[:8]}', from '{stamp}'.",
    )


def test_a_malformed_date_is_an_incomplete_signature() -> None:
    denial = check(signed().with_header("X-Amz-Date", "yesterday"))
    assert denial == Denial(
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got 'yesterday'. "
        "See http://en.wikipedia.org/wiki/ISO_8601",
    )


def test_an_authorization_header_that_is_not_sigv4_lists_what_is_missing() -> None:
    """A bearer token sent to an IAM-protected API: AWS's well-known answer."""
    call = signed().without("X-Amz-Date").with_header("Authorization", "Bearer abc.def")
    assert check(call) == Denial(
        "IncompleteSignatureException",
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=Bearer abc.def",
    )


def test_a_pair_without_equal_sign_is_named() -> None:
    value = "AWS4-HMAC-SHA256 Credential AKIDNEW/20260101/us-east-1/execute-api/aws4_request"
    assert check(signed().with_header("Authorization", value)) == Denial(
        "IncompleteSignatureException",
        "'Credential AKIDNEW/20260101/us-east-1/execute-api/aws4_request' not a valid "
        f"key=value pair (missing equal-sign) in Authorization header: '{value}'.",
    )


def test_a_credential_needs_five_elements() -> None:
    call = signed()
    authorization = dict(call.headers)["Authorization"]
    start = authorization.index("Credential=") + len("Credential=")
    end = authorization.index(",", start)
    broken = authorization[:start] + "AKIDNEW/us-east-1" + authorization[end:]
    denial = check(call.with_header("Authorization", broken))
    assert denial is not None and denial.error_type == "IncompleteSignatureException"
    assert denial.message.startswith("Credential must have exactly 5 slash-delimited elements")


def test_a_session_token_must_match_the_keys() -> None:
    """Configured with a token: required and compared; configured without: refused."""
    call = signed(key=TEMPORARY)
    unrecognized = "UnrecognizedClientException"
    assert code_of(call.without("X-Amz-Security-Token")) == unrecognized
    assert code_of(call.with_header("X-Amz-Security-Token", "another")) == unrecognized
    with_token = KeyPair(NEW.access_key_id, NEW.secret_access_key, "a-token")
    assert code_of(signed(key=with_token)) == unrecognized


def test_presigned_parameters_are_all_required() -> None:
    call = presigned()
    assert call.query is not None
    stripped = "&".join(p for p in call.query.split("&") if not p.startswith("X-Amz-Expires="))
    denial = check(call._replace(query=stripped))
    assert denial == Denial(
        "IncompleteSignatureException",
        "AWS query-string parameters must include 'X-Amz-Expires'. "
        "Re-examine the query-string parameters.",
    )
    tampered = call.query.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert code_of(call._replace(query=tampered)) == "InvalidSignatureException"


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expected and given signatures meet in hmac.compare_digest, never ==."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    call = signed()
    assert check(call) is None
    given_signature = dict(call.headers)["Authorization"].rpartition("Signature=")[2]
    assert compared == [(given_signature.encode(), given_signature.encode())]


# --- building one ----------------------------------------------------------------------


def test_without_botocore_a_verifier_cannot_be_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error names what to install; nothing else imports botocore."""
    monkeypatch.setitem(sys.modules, "botocore.auth", None)
    with pytest.raises(ConfigError, match=r"pip install botocore"):
        SigV4Verifier([NEW], "us-east-1")


def test_a_key_id_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="AKIDNEW"):
        SigV4Verifier([NEW, KeyPair("AKIDNEW", "other")], "us-east-1")


def test_a_key_pair_never_shows_its_secret() -> None:
    assert "secret" not in repr(TEMPORARY) and "token" not in repr(TEMPORARY)


# --- check_access ----------------------------------------------------------------------


def access_of(call: Call, access: ManagementAccess) -> tuple[int, str, bytes] | None:
    reply = check_access(access, call.headers, call.method, call.path, call.query, call.body)
    if reply is None:
        return None
    status, headers, body = reply
    assert headers["Content-Type"] == "application/json" and headers["x-amzn-RequestId"]
    return status, headers["x-amzn-ErrorType"], body


def test_a_listener_that_does_not_serve_the_api_answers_as_for_an_unknown_path() -> None:
    assert access_of(signed(), NOT_SERVED) == (
        403,
        "MissingAuthenticationTokenException",
        b'{"message":"Missing Authentication Token"}',
    )


def test_open_access_lets_every_call_through_but_web_pages() -> None:
    """auth none: no signing work; a call with an Origin header is refused (403)."""
    call = signed().without("Authorization")
    assert access_of(call, OPEN) is None
    refused = access_of(call.with_header("Origin", "http://evil.example"), OPEN)
    assert refused == (403, "ForbiddenException", b'{"message":"Forbidden"}')


def test_allowed_origins_are_compared_without_case() -> None:
    access = ManagementAccess(allowed_origins=frozenset({"https://admin.example"}))
    call = signed().without("Authorization")
    assert access_of(call.with_header("origin", "https://Admin.Example"), access) is None
    assert access_of(call.with_header("Origin", "https://admin.example:444"), access) == (
        403,
        "ForbiddenException",
        b'{"message":"Forbidden"}',
    )


def test_sigv4_access_answers_execute_apis_refusals() -> None:
    access = ManagementAccess(verifier=verifier())
    assert access_of(signed(), access) is None
    refused = access_of(signed(key=KeyPair("AKIDWHO", "x")), access)
    assert refused is not None
    assert refused[:2] == (403, "UnrecognizedClientException")
    assert refused[2] == b'{"message":"The security token included in the request is invalid."}'


def test_an_oversized_post_is_left_to_the_413() -> None:
    """Only part of it was read, so its hash cannot be checked; perform refuses it."""
    access = ManagementAccess(verifier=verifier())
    call = signed().without("Authorization")._replace(body=b"z" * (MAX_POST_BYTES + 1))
    assert access_of(call, access) is None
    assert access_of(call._replace(body=b"z" * MAX_POST_BYTES), access) is not None

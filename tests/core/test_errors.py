"""Tests for wsgate.core.errors."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.errors import (
    ManagementError,
    forbidden_frame,
    internal_error_frame,
    management_error,
    timeout_frame,
)


CONN = "XDmENcnwIE0CFEQ="
REQ = "XDmGEE2RoE0FRdQ="


def test_forbidden_frame_exact_bytes() -> None:
    """The Forbidden frame matches AWS byte for byte."""
    assert forbidden_frame(CONN, REQ) == (
        '{"message": "Forbidden", "connectionId":"XDmENcnwIE0CFEQ=", '
        '"requestId":"XDmGEE2RoE0FRdQ="}'
    )


def test_internal_error_frame_exact_bytes() -> None:
    """The Internal server error frame matches AWS byte for byte."""
    assert internal_error_frame("Qyi07eCbtjMCJKw=", "Qyi3UG41tjMFlUg=") == (
        '{"message": "Internal server error", "connectionId":"Qyi07eCbtjMCJKw=", '
        '"requestId":"Qyi3UG41tjMFlUg="}'
    )


def test_timeout_frame_exact_bytes() -> None:
    """The timeout frame matches AWS byte for byte."""
    assert timeout_frame(CONN, REQ) == (
        '{"message": "Endpoint request timed out", "connectionId":"XDmENcnwIE0CFEQ=", '
        '"requestId":"XDmGEE2RoE0FRdQ="}'
    )


any_text = st.text(st.characters(blacklist_categories=()))


@given(any_text, any_text)
def test_frames_are_always_valid_json(connection_id: str, request_id: str) -> None:
    """Ids outside the base64url alphabet (even lone surrogates) are escaped, so frames
    always parse back to the same ids."""
    for frame in (forbidden_frame, internal_error_frame, timeout_frame):
        parsed = json.loads(frame(connection_id, request_id))
        assert parsed["connectionId"] == connection_id
        assert parsed["requestId"] == request_id


def test_frame_escapes_quotes() -> None:
    """A quote in an id cannot break out of the string."""
    assert json.loads(forbidden_frame("\ud800", "x"))["connectionId"] == "\ud800"
    frame = forbidden_frame('a"b', "c\\d")
    assert json.loads(frame) == {"message": "Forbidden", "connectionId": 'a"b', "requestId": "c\\d"}


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        (ManagementError.GONE, 410, "GoneException"),
        (ManagementError.FORBIDDEN, 403, "ForbiddenException"),
        (ManagementError.PAYLOAD_TOO_LARGE, 413, "PayloadTooLargeException"),
        (ManagementError.LIMIT_EXCEEDED, 429, "LimitExceededException"),
        (ManagementError.BAD_REQUEST, 400, "BadRequestException"),
    ],
)
def test_management_error(kind: ManagementError, status: int, error_type: str) -> None:
    """Each kind gives AWS's status, x-amzn-ErrorType and a JSON message body."""
    assert kind.status == status
    assert management_error(kind, None) == (
        status,
        {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"},
        b'{"message":null}',
    )
    _, _, body = management_error(kind, 'Payload "too" large')
    assert orjson.loads(body) == {"message": 'Payload "too" large'}


def test_management_error_kinds_are_exactly_six() -> None:
    """No kind is missing a status."""
    assert {kind.status for kind in ManagementError} == {400, 403, 410, 413, 429, 500}

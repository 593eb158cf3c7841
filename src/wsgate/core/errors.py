"""AWS's error payloads: text frames for clients, error responses for @connections."""

from __future__ import annotations

import enum
import json
import string

import orjson


__all__ = [
    "ManagementError",
    "forbidden_frame",
    "internal_error_frame",
    "management_error",
    "throttled_frame",
    "timeout_frame",
]

_SAFE_ID_CHARS = string.ascii_letters + string.digits + "-_="


def _quoted(value: str) -> str:
    # Our ids are base64url and need no escaping; anything else goes through a JSON encoder
    # so a frame can never become invalid JSON. The stdlib one, because unlike orjson it
    # also copes with lone surrogates (as ``\udxxx`` escapes); this path is never hot.
    if not value.strip(_SAFE_ID_CHARS):  # only alphabet characters: nothing left
        return f'"{value}"'
    return json.dumps(value)


def _frame(message: str, connection_id: str, request_id: str) -> str:
    # Byte layout as captured from AWS: a space after `"message":` and after the first comma
    # only (CONTRACT §0.7).
    return (
        f'{{"message": "{message}", "connectionId":{_quoted(connection_id)}, '
        f'"requestId":{_quoted(request_id)}}}'
    )


def forbidden_frame(connection_id: str, request_id: str) -> str:
    """The frame sent when no route matches and there is no ``$default`` route."""
    return _frame("Forbidden", connection_id, request_id)


def internal_error_frame(connection_id: str, request_id: str) -> str:
    """The frame sent when a MESSAGE integration fails."""
    return _frame("Internal server error", connection_id, request_id)


def timeout_frame(connection_id: str, request_id: str) -> str:
    """The frame sent when a MESSAGE integration runs past its timeout."""
    return _frame("Endpoint request timed out", connection_id, request_id)


def throttled_frame(connection_id: str, request_id: str) -> str:
    """The frame sent when a message's route is over its throttle; the connection stays
    open (the text follows AWS's 429, ``Too Many Requests``)."""
    return _frame("Too Many Requests", connection_id, request_id)


class ManagementError(enum.Enum):
    """Management API errors; the value is the ``x-amzn-ErrorType`` boto3 maps to its
    exception class (without that header boto3 raises a bare ``ClientError``)."""

    GONE = "GoneException"
    FORBIDDEN = "ForbiddenException"
    PAYLOAD_TOO_LARGE = "PayloadTooLargeException"
    LIMIT_EXCEEDED = "LimitExceededException"
    BAD_REQUEST = "BadRequestException"
    INTERNAL = "InternalServerErrorException"
    """Not in botocore's model: boto3 raises a plain ``ClientError`` with this code."""

    @property
    def status(self) -> int:
        """The HTTP status AWS answers with."""
        return _STATUS[self]


_STATUS = {
    ManagementError.GONE: 410,
    ManagementError.FORBIDDEN: 403,
    ManagementError.PAYLOAD_TOO_LARGE: 413,
    ManagementError.LIMIT_EXCEEDED: 429,
    ManagementError.BAD_REQUEST: 400,
    ManagementError.INTERNAL: 500,
}


def management_error(
    kind: ManagementError, message: str | None
) -> tuple[int, dict[str, str], bytes]:
    """Return status, headers and body of an error response, e.g. a 410 with
    ``x-amzn-ErrorType: GoneException`` and ``{"message":null}``.

    The caller adds ``x-amzn-RequestId``.
    """
    headers = {"x-amzn-ErrorType": kind.value, "Content-Type": "application/json"}
    return kind.status, headers, orjson.dumps({"message": message})

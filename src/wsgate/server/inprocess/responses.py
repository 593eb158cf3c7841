"""A management ``Reply`` turned into what botocore's endpoint makes of an HTTP response.

The answer goes through botocore's own parser, so return values and exceptions are those
of the HTTP path. That takes three names botocore does not document as public: they are
listed in ``USES``, and checked before the hook is installed (``install``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import Any

from aiohttp.http import SERVER_SOFTWARE

from wsgate.core.http1 import wire_headers
from wsgate.server.management import Reply


__all__ = ["USES", "botocore_response", "request_body"]

USES = (
    "botocore.awsrequest.AWSResponse",
    "botocore.endpoint.convert_to_response_dict",
    "botocore.parsers.create_parser",
)
"""The botocore names this module needs, as ``module.name``."""


class _Body:
    """The ``raw`` of a botocore ``AWSResponse``: a body already read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterable[bytes]:
        return iter((self._data,))


def request_body(body: object) -> bytes:
    """The bytes botocore would send for ``params["body"]``."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    data = body.read()  # type: ignore[attr-defined]  # a file-like Data
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _protocol(service: Any) -> str:
    """The wire protocol botocore parses ``service``'s responses by."""
    protocol: str = getattr(service, "resolved_protocol", None) or service.protocol
    return protocol


@functools.cache
def _parser(protocol: str) -> Any:
    """botocore's response parser for ``protocol``; parsers keep no per-response state."""
    from botocore.parsers import create_parser

    return create_parser(protocol)


def botocore_response(model: Any, url: str, reply: Reply) -> tuple[Any, dict[str, Any]]:
    """(http_response, parsed) exactly as botocore's endpoint builds them from a response."""
    from botocore.awsrequest import AWSResponse

    status, headers, body = reply
    # The headers aiohttp or the front door would write, so HTTPHeaders match the HTTP path.
    wire = wire_headers(status, headers, body, int(time.time()), SERVER_SOFTWARE)
    http = AWSResponse(url, status, wire, _Body(body))
    if 200 <= status < 300 and not body and model.output_shape is None:
        # A POST's or DELETE's answer: only ResponseMetadata, read from the headers.
        return http, _bodiless_success(model, http, status, wire)
    return http, _parsed(model, http, status)


def _parsed(model: Any, http: Any, status: int) -> dict[str, Any]:
    """What botocore's endpoint parses from ``http`` for ``model``."""
    from botocore.endpoint import convert_to_response_dict

    response = convert_to_response_dict(http, model)
    service = model.service_model
    parser = _parser(_protocol(service))
    parsed: dict[str, Any] = parser.parse(response, model.output_shape)
    if status >= 300:
        # As the endpoint does: the modeled error's own fields join Error and metadata.
        code = parsed.get("Error", {}).get("Code")
        shape = service.shape_for_error_code(code) if code is not None else None
        if shape is not None:
            parsed.update(parser.parse(response, shape))
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return parsed


_SAME_AS_BOTOCORE: dict[tuple[str, str], bool] = {}
"""Per (protocol, operation): whether ``_metadata_only`` was seen to give exactly what
botocore's parser gives for a success with no body. Three operations at most."""


def _bodiless_success(model: Any, http: Any, status: int, wire: dict[str, str]) -> dict[str, Any]:
    """botocore's parse of a success with no body, built directly after botocore's own
    parser was once seen to give the same for this operation (about half the cost)."""
    key = (_protocol(model.service_model), model.name)
    same = _SAME_AS_BOTOCORE.get(key)
    if same:
        return _metadata_only(status, wire)
    parsed = _parsed(model, http, status)
    if same is None:
        _SAME_AS_BOTOCORE[key] = parsed == _metadata_only(status, wire)
    return parsed


def _metadata_only(status: int, wire: dict[str, str]) -> dict[str, Any]:
    """A parsed response holding only botocore's ResponseMetadata for these headers."""
    headers = {name.lower(): value for name, value in wire.items()}
    metadata: dict[str, Any] = {}
    if "x-amzn-requestid" in headers:
        metadata["RequestId"] = headers["x-amzn-requestid"]
    metadata["HTTPStatusCode"] = status
    metadata["HTTPHeaders"] = headers
    metadata["RetryAttempts"] = 0
    return {"ResponseMetadata": metadata}

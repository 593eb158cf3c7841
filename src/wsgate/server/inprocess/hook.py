"""botocore's ``before-call.apigatewaymanagementapi`` handler: answer locally, or let HTTP.

Returning a response from ``before-call`` skips the request, the way botocore's Stubber
does. A call to any URL no gateway of this process listens on, a call botocore would
refuse to sign, and a call to a gateway whose loop has stopped return None: botocore then
sends it over HTTP as usual.
"""

from __future__ import annotations

from typing import Any

from wsgate.server.inprocess.listeners import find, serving
from wsgate.server.inprocess.loopcall import run
from wsgate.server.inprocess.responses import USES as _RESPONSES_USES
from wsgate.server.inprocess.responses import botocore_response, request_body


__all__ = ["EVENT", "USES", "before_call"]

EVENT = "before-call.apigatewaymanagementapi"
USES = ("botocore.exceptions.ReadTimeoutError", *_RESPONSES_USES)
"""The botocore names a call answered here needs, as ``module.name``."""

_UNKNOWN = object()
_DEFAULT_READ_TIMEOUT = 60.0  # botocore's


def before_call(
    model: Any, params: dict[str, Any], request_signer: Any, context: Any, **kwargs: Any
) -> tuple[Any, dict[str, Any]] | None:
    """Answer a management call in process: ``(http_response, parsed)``, or None for HTTP."""
    if not serving():
        return None
    url = params["url"]
    found = find(url)
    if found is None:
        return None
    # No credentials: botocore raises NoCredentialsError when it signs, as over HTTP.
    if getattr(request_signer, "_credentials", _UNKNOWN) is None:
        return None
    local, path = found
    client_config = context.get("client_config") if isinstance(context, dict) else None
    timeout = getattr(client_config, "read_timeout", None) or _DEFAULT_READ_TIMEOUT
    body = request_body(params.get("body"))
    try:
        reply = run(local, params["method"], path, body, timeout)
    except TimeoutError:
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url=url) from None
    if reply is None:
        return None
    return botocore_response(model, url, reply)

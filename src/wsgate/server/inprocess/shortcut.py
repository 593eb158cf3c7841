"""The management client's class: a call to a gateway of this process skips the two steps
botocore takes only to reach a remote endpoint.

Resolving the endpoint from the service's rules (about 14 µs a call) and writing the
User-Agent header (about 6 µs) serve only the HTTP request botocore would send; the
``before-call`` handler (``hook``) answers a call to a local gateway without sending one.
So, on a client whose ``endpoint_url`` names a gateway of this process:

- the endpoint is the client's ``endpoint_url``, once botocore's own resolution gave
  exactly that for the same client and operation (no extra headers, no properties, the
  call's context unchanged); until then, and for every other client, botocore resolves it;
- the request is botocore's (its validation, its serializer, its URL) without the
  User-Agent header.

Everything a user or a library hooks into stays botocore's: the ``provide-client-params``,
``before-parameter-build``, ``before-call`` and ``after-call`` events fire as before, and
``_make_api_call``, which tracers such as X-Ray wrap, is not replaced. The class is added
through botocore's ``creating-client-class`` event, as a first base; the two methods it
overrides are private to botocore, so their parameters are checked (``mismatched``)
before it is ever added.
"""

from __future__ import annotations

import inspect
from typing import Any

from wsgate.server.inprocess.listeners import find, serving


__all__ = ["CLASS_EVENT", "LocalShortcuts", "add_shortcuts", "mismatched"]

CLASS_EVENT = "creating-client-class.apigatewaymanagementapi"

_OVERRIDDEN = {
    "_resolve_endpoint_ruleset": (
        "self",
        "operation_model",
        "params",
        "request_context",
        "ignore_signing_region",
    ),
    "_convert_to_request_dict": (
        "self",
        "api_params",
        "operation_model",
        "endpoint_url",
        "context",
        "headers",
        "set_user_agent_header",
    ),
}
"""botocore's methods the class overrides, with the parameters it expects of them."""


def mismatched(base: type) -> list[str]:
    """The overridden methods of ``base`` (botocore's ``BaseClient``) that are missing or
    take other parameters than the class expects, as ``BaseClient.name``."""
    wrong = []
    for name, expected in _OVERRIDDEN.items():
        method = getattr(base, name, None)
        try:
            found = tuple(inspect.signature(method).parameters) if method else ()
        except (TypeError, ValueError):
            found = ()
        if found != expected:
            wrong.append(f"{base.__name__}.{name}")
    return wrong


def _local(client: Any) -> bool:
    """Whether ``client``'s calls go to a gateway of this process (and its hook)."""
    return serving() and find(client.meta.endpoint_url) is not None


class LocalShortcuts:
    """The first base of every ``apigatewaymanagementapi`` client class made after
    ``install_hook``; calls to any other endpoint are botocore's, untouched."""

    meta: Any

    def _resolve_endpoint_ruleset(
        self,
        operation_model: Any,
        params: Any,
        request_context: Any,
        ignore_signing_region: bool = False,
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        resolve = super()._resolve_endpoint_ruleset  # type: ignore[misc]
        if ignore_signing_region or not _local(self):  # a presigned URL, a remote call
            return resolve(operation_model, params, request_context, ignore_signing_region)  # type: ignore[no-any-return]
        same = _same_endpoint(self)
        known = same.get(operation_model.name)
        if known:
            return self.meta.endpoint_url, {}, {}
        if known is not None:  # botocore's resolution differs: always botocore's
            return resolve(operation_model, params, request_context)  # type: ignore[no-any-return]
        context_before = dict(request_context)
        resolved = resolve(operation_model, params, request_context)
        same[operation_model.name] = (
            resolved == (self.meta.endpoint_url, {}, {}) and request_context == context_before
        )
        return resolved  # type: ignore[no-any-return]

    def _convert_to_request_dict(
        self,
        api_params: Any,
        operation_model: Any,
        endpoint_url: str,
        context: Any = None,
        headers: Any = None,
        set_user_agent_header: bool = True,
    ) -> dict[str, Any]:
        if set_user_agent_header and _local(self):
            set_user_agent_header = False  # a header of a request that is never sent
        convert = super()._convert_to_request_dict  # type: ignore[misc]
        return convert(  # type: ignore[no-any-return]
            api_params, operation_model, endpoint_url, context, headers, set_user_agent_header
        )


def _same_endpoint(client: Any) -> dict[str, bool]:
    """Per operation, whether botocore's resolution was seen to give this client's
    ``endpoint_url`` and nothing else; kept on the client (its settings decide it)."""
    same: dict[str, bool] | None = client.__dict__.get("_wsgate_same_endpoint")
    if same is None:
        same = client.__dict__.setdefault("_wsgate_same_endpoint", {})
    return same


def add_shortcuts(base_classes: list[type], **kwargs: Any) -> None:
    """botocore's ``creating-client-class`` handler: ``LocalShortcuts`` first."""
    if LocalShortcuts not in base_classes:
        base_classes.insert(0, LocalShortcuts)

"""The management API (``@connections``) as boto3's ``apigatewaymanagementapi`` speaks it.

Thin by design: the path is parsed and the errors are shaped in ``core.management`` and
``core.errors``; every operation goes through the registry, wherever the connection lives.
``perform`` is the whole API apart from HTTP, so the front door, the aiohttp endpoint
(``server.app``) and the in-process path of ``server.inprocess`` give the same answers.

Who may call is ``check_access``, which the front door and the aiohttp endpoint ask before
``perform``: whether this listener serves the API at all, the ``Origin`` of a call made
by a web page, and with ``management.auth: sigv4`` the call's signature
(``server.sigv4``). The in-process path asks nothing: a handler's call to its own gateway
is a function call, trusted as the handler is.

Nothing here knows the ``Gateway`` or aiohttp: a ``ManagedGateway`` is its stage and its
registry, which is all an answer needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import orjson

from wsgate.core.errors import ManagementError, management_error
from wsgate.core.ids import new_uuid
from wsgate.core.management import (
    ConnectionPath,
    WrongStage,
    connection_info_body,
    parse_management_path,
)
from wsgate.exceptions import BufferFull, Gone, RegistryError
from wsgate.server.observe import observer_of
from wsgate.server.sigv4 import MISSING_TOKEN, Denial


if TYPE_CHECKING:
    from wsgate.core.request import ApiContext
    from wsgate.registry import Registry
    from wsgate.server.sigv4 import SigV4Verifier


__all__ = [
    "MAX_POST_BYTES",
    "NOT_SERVED",
    "OPEN",
    "ManagedGateway",
    "ManagementAccess",
    "Reply",
    "check_access",
    "internal_error",
    "perform",
    "post_from_thread",
]

# PostToConnection's Data is at most 128 KiB (the botocore model's max).
MAX_POST_BYTES = 131072

Reply = tuple[int, dict[str, str], bytes]
"""A management answer: status, headers and body, before any transport adds its own."""

_POST = "POST"
_GET = "GET"
_DELETE = "DELETE"

log = logging.getLogger("wsgate.management")


class ManagedGateway(Protocol):
    """What the management API needs of a gateway; ``server.gateway.Gateway`` is one."""

    @property
    def api(self) -> ApiContext:
        """The API stage: its name is the first segment of every management path."""
        ...

    @property
    def registry(self) -> Registry:
        """Where every connection is found, wherever it lives."""
        ...


def _error(kind: ManagementError, message: str | None = None) -> Reply:
    status, headers, body = management_error(kind, message)
    headers["x-amzn-RequestId"] = new_uuid()
    return status, headers, body


def _ok(status: int, body: bytes = b"") -> Reply:
    headers = {"Content-Type": "application/json"} if body else {}
    headers["x-amzn-RequestId"] = new_uuid()
    return status, headers, body


def internal_error() -> Reply:
    """The answer when the gateway itself failed: 500, as AWS answers its own faults."""
    return _error(ManagementError.INTERNAL, "Internal server error")


# Who may call


@dataclass(frozen=True, slots=True)
class ManagementAccess:
    """Who may call the management API on one listener; built once at start."""

    served: bool = True
    """False on the public listeners when ``management.listen`` serves the API elsewhere:
    every call is then answered as a path execute-api does not serve."""
    verifier: SigV4Verifier | None = None
    """With ``management.auth: sigv4``, what checks each call's signature."""
    allowed_origins: frozenset[str] = frozenset()
    """``management.allowed_origins``, lower-cased: the web pages that may call."""


OPEN = ManagementAccess()
"""``management.auth: none`` on a listener serving the API: only web pages are refused."""
NOT_SERVED = ManagementAccess(served=False)
"""A public listener when ``management.listen`` serves the API on its own address."""


def _denied(denial: Denial) -> Reply:
    """execute-api's answer to a call it does not authenticate: 403, its error type."""
    headers = {
        "x-amzn-ErrorType": denial.error_type,
        "Content-Type": "application/json",
        "x-amzn-RequestId": new_uuid(),
    }
    return 403, headers, orjson.dumps({"message": denial.message})


def check_access(
    access: ManagementAccess,
    headers: Sequence[tuple[str, str]],
    method: str,
    path: str,
    query: str | None,
    body: bytes,
) -> Reply | None:
    """The refusal of a management call received over HTTP, or None to let ``perform``
    answer it. The one check of the front door and the aiohttp endpoint.

    In this order: a listener that does not serve the API answers 403
    ``MissingAuthenticationTokenException``; a call with an ``Origin`` header (a web
    page's) not in ``management.allowed_origins`` is 403 ``ForbiddenException``, logged;
    then, with ``management.auth: sigv4``, a call that is not signed by an accepted key
    gets execute-api's answer (``server.sigv4``). A POST over ``MAX_POST_BYTES`` is left
    to ``perform``'s 413 unchecked: a caller reading a stream stops one byte past the
    limit, so the body whose hash was signed is not at hand.

    Args:
        access: the listener's rules.
        headers: the request's header fields as received, names in any case.
        method: the request's method.
        path: its path, still percent-encoded, without the query.
        query: what followed the ``?``; None without one.
        body: the body read (for a POST, up to one byte past ``MAX_POST_BYTES``).
    """
    if not access.served:
        return _denied(MISSING_TOKEN)
    for name, value in headers:
        if (
            len(name) == 6
            and name.lower() == "origin"
            and value.lower() not in access.allowed_origins
        ):
            log.info(
                "management %s %r refused: Origin %r is not in management.allowed_origins",
                method,
                path,
                value,
            )
            return _error(ManagementError.FORBIDDEN, "Forbidden")
    verifier = access.verifier
    if verifier is None or (method == _POST and len(body) > MAX_POST_BYTES):
        return None
    denial = verifier.verify(headers, method, path, query, body)
    if denial is None:
        return None
    if denial is not MISSING_TOKEN:
        log.info("management %s %r refused: %s", method, path, denial.error_type)
    return _denied(denial)


def _payload(body: bytes) -> str | bytes:
    """What a POST delivers: a text frame when the data is UTF-8, else a binary frame."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def post_from_thread(
    gateway: ManagedGateway, method: str, raw_path: str, body: bytes
) -> Reply | None:
    """The answer to a POST made in a thread other than the gateway's loop, given without
    waiting for the loop; None when only ``perform``, on the loop, can answer.

    Only the usual case is answered here: a POST to an open connection of this process
    with room in its buffer. Every refusal is left to ``perform``, so the answers stay
    those of one place.
    """
    if method != _POST or len(body) > MAX_POST_BYTES:
        return None
    target = parse_management_path(raw_path, gateway.api.stage)
    if not isinstance(target, ConnectionPath):
        return None
    connection = gateway.registry.local(target.connection_id)
    if connection is None or not connection.send_threadsafe(_payload(body)):
        return None
    reply = _ok(200)
    if (observer := observer_of(gateway)) is not None:  # metrics and access log
        observer.managed(method, raw_path, reply, len(body))
    return reply


async def perform(gateway: ManagedGateway, method: str, raw_path: str, body: bytes) -> Reply:
    """Answer ``method`` on ``raw_path`` as the management API (``_perform``), observed."""
    reply = await _perform(gateway, method, raw_path, body)
    if (observer := observer_of(gateway)) is not None:  # metrics and access log
        observer.managed(method, raw_path, reply, len(body))
    return reply


async def _perform(gateway: ManagedGateway, method: str, raw_path: str, body: bytes) -> Reply:
    """Answer ``method`` on ``raw_path`` (still percent-encoded) as the management API.

    ``body`` is the POST's data; anything longer than ``MAX_POST_BYTES`` is refused with
    413, so a caller reading a stream may stop one byte past the limit. Never raises for
    a client's mistake: every outcome is a reply.
    """
    target = parse_management_path(raw_path, gateway.api.stage)
    if isinstance(target, WrongStage):
        return _error(ManagementError.FORBIDDEN, "Forbidden")
    if not isinstance(target, ConnectionPath):
        return _denied(MISSING_TOKEN)
    connection_id = target.connection_id
    registry = gateway.registry
    try:
        if method == _POST:
            if len(body) > MAX_POST_BYTES:
                return _error(ManagementError.PAYLOAD_TOO_LARGE)
            await registry.send(connection_id, _payload(body))
            return _ok(200)
        if method == _GET:
            info = await registry.info(connection_id)
            return _ok(
                200,
                connection_info_body(
                    info.connected_at, info.last_active_at, info.source_ip, info.user_agent
                ),
            )
        if method == _DELETE:
            await registry.close(connection_id)
            return _ok(204)
    except Gone:
        return _error(ManagementError.GONE)
    except BufferFull:
        return _error(ManagementError.LIMIT_EXCEEDED, "The client is not reading its messages")
    except RegistryError as exc:
        # The registry's backend failed (Redis unreachable): the connection may well be
        # alive, so not 410, which would make callers forget it.
        log.error("management %s %s: %s", method, raw_path, exc)
        return internal_error()
    return _denied(MISSING_TOKEN)

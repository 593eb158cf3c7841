"""The management API (``@connections``) as boto3's ``apigatewaymanagementapi`` speaks it.

Thin by design: the path is parsed and the errors are shaped in ``core.management`` and
``core.errors``; every operation goes through the registry, wherever the connection lives.
``perform`` is the whole API apart from HTTP, so the front door, the aiohttp endpoint
(``server.app``) and the in-process path of ``server.inprocess`` give the same answers.

Nothing here knows the ``Gateway`` or aiohttp: a ``ManagedGateway`` is its stage and its
registry, which is all an answer needs.
"""

from __future__ import annotations

import logging
import os
import random
import uuid
from typing import TYPE_CHECKING, Protocol

from wsgate.core.errors import ManagementError, management_error
from wsgate.core.management import (
    ConnectionPath,
    WrongStage,
    connection_info_body,
    parse_management_path,
)
from wsgate.exceptions import BufferFull, Gone, RegistryError


if TYPE_CHECKING:
    from wsgate.core.request import ApiContext
    from wsgate.registry import Registry


__all__ = [
    "MAX_POST_BYTES",
    "ManagedGateway",
    "Reply",
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


_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def _request_id() -> str:
    """A version-4 UUID, as AWS's request ids are. Drawn from a generator seeded from the
    OS (again in a forked child): it must be unique, not secret, and ``uuid4`` costs a
    system call each."""
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


def _error(kind: ManagementError, message: str | None = None) -> Reply:
    status, headers, body = management_error(kind, message)
    headers["x-amzn-RequestId"] = _request_id()
    return status, headers, body


def _ok(status: int, body: bytes = b"") -> Reply:
    headers = {"Content-Type": "application/json"} if body else {}
    headers["x-amzn-RequestId"] = _request_id()
    return status, headers, body


def internal_error() -> Reply:
    """The answer when the gateway itself failed: 500, as AWS answers its own faults."""
    return _error(ManagementError.INTERNAL, "Internal server error")


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
    return _ok(200)


async def perform(gateway: ManagedGateway, method: str, raw_path: str, body: bytes) -> Reply:
    """Answer ``method`` on ``raw_path`` (still percent-encoded) as the management API.

    ``body`` is the POST's data; anything longer than ``MAX_POST_BYTES`` is refused with
    413, so a caller reading a stream may stop one byte past the limit. Never raises for
    a client's mistake: every outcome is a reply.
    """
    target = parse_management_path(raw_path, gateway.api.stage)
    if isinstance(target, WrongStage):
        return _error(ManagementError.FORBIDDEN, "Forbidden")
    if not isinstance(target, ConnectionPath):
        return _error(ManagementError.FORBIDDEN, "Missing Authentication Token")
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
    return _error(ManagementError.FORBIDDEN, "Missing Authentication Token")

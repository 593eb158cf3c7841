"""The Lambda-style REQUEST authorizer: a handler returns an IAM policy, the core judges it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from wsgate.auth.base import Authorized, Refused
from wsgate.core.events import authorizer_event
from wsgate.core.identity import IdentitySource, missing_identity
from wsgate.core.policy import Allow, Deny, authorizer_request_context, evaluate_authorizer_response
from wsgate.core.request import ApiContext, ConnectionContext, HandshakeRequest
from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.integrations.handler import Handler


__all__ = ["RequestAuthorizer"]

log = logging.getLogger("wsgate.auth")

# The one error message that AWS turns into 401 rather than 500.
_UNAUTHORIZED = "Unauthorized"


class RequestAuthorizer:
    """Runs the authorizer handler with AWS's REQUEST event and maps the outcome to a status.

    Missing identity sources → 401 without invoking anything; ``Unauthorized`` raised → 401;
    Deny or no matching Allow → 403; any other failure or a malformed answer → 500.
    """

    def __init__(self, handler: Handler, identity_sources: Sequence[IdentitySource]):
        self._handler = handler
        self._sources = tuple(identity_sources)

    @property
    def handler(self) -> Handler:
        """The authorizer's handler."""
        return self._handler

    def event(
        self,
        api: ApiContext,
        connection: ConnectionContext,
        request: HandshakeRequest,
        request_id: str,
    ) -> dict[str, object] | Refused:
        """The REQUEST event for the handler, or 401 when an identity source is missing
        (then nothing is invoked)."""
        missing = missing_identity(self._sources, request)
        if missing:
            names = ", ".join(f"{source.kind}.{source.name}" for source in missing)
            return Refused(401, f"identity source missing: {names}")
        return authorizer_event(api, connection, request, request_id, int(time.time() * 1000))

    def judge(
        self,
        api: ApiContext,
        result: object,
        error: HandlerFailed | IntegrationTimeout | None,
        latency_ms: int,
    ) -> Authorized | Refused:
        """The decision from what the handler returned (``result``) or how it failed.

        Pure but for logging, so that it may run in a handler thread.
        """
        if isinstance(error, HandlerFailed):
            if str(error.error) == _UNAUTHORIZED:
                return Refused(401, "authorizer raised Unauthorized")
            log.warning("authorizer failed: %s", error)
            return Refused(500, str(error))
        if error is not None:
            log.warning("authorizer timed out: %s", error)
            return Refused(500, str(error))
        decision = evaluate_authorizer_response(result, api.connect_method_arn)
        if isinstance(decision, Allow):
            return Authorized(authorizer_request_context(decision, latency_ms))
        if isinstance(decision, Deny):
            return Refused(403, decision.reason)
        log.warning("authorizer returned an unusable response: %s", decision.reason)
        return Refused(500, decision.reason)

    async def authorize(
        self,
        api: ApiContext,
        connection: ConnectionContext,
        request: HandshakeRequest,
        request_id: str,
    ) -> Authorized | Refused:
        """See ``Authorizer.authorize``."""
        event = self.event(api, connection, request, request_id)
        if isinstance(event, Refused):
            return event
        started = time.monotonic()
        try:
            result = await self._handler.invoke(event, request_id)
        except (HandlerFailed, IntegrationTimeout) as exc:
            return self.judge(api, None, exc, 0)
        return self.judge(api, result, None, int((time.monotonic() - started) * 1000))

    async def aclose(self) -> None:
        """Nothing to release: the integration belongs to the gateway."""

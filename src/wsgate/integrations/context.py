"""The Lambda-style ``context`` object handed to every handler."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field


__all__ = ["LambdaContext", "function_name_for"]

_NOT_IN_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def function_name_for(reference: str) -> str:
    """A Lambda-legal function name for a handler reference (``chat.handlers:connect``)."""
    return _NOT_IN_FUNCTION_NAME.sub("-", reference).strip("-") or "handler"


@dataclass(slots=True)
class LambdaContext:
    """The attributes of AWS Lambda's Python context, with the invocation's deadline.

    ``deadline`` is a ``time.monotonic()`` value: the moment the route's timeout runs out.
    """

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: object | None = None
    client_context: object | None = None
    tenant_id: str | None = field(default=None)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the route's timeout, never below zero."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))

"""The Lambda-style ``context`` object handed to every handler."""

from __future__ import annotations

import re
import time


__all__ = ["LambdaContext", "function_name_for"]

_NOT_IN_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def function_name_for(reference: str) -> str:
    """A Lambda-legal function name for a handler reference (``chat.handlers:connect``)."""
    return _NOT_IN_FUNCTION_NAME.sub("-", reference).strip("-") or "handler"


class LambdaContext:
    """The attributes of AWS Lambda's Python context, with the invocation's deadline.

    ``deadline`` is a ``time.monotonic()`` value: the moment the route's timeout runs out.
    A plain class with slots: one is made per invocation, on the per-message path.
    """

    __slots__ = (
        "aws_request_id",
        "deadline",
        "function_name",
        "invoked_function_arn",
        "log_group_name",
    )

    function_version = "$LATEST"
    memory_limit_in_mb = 128
    log_stream_name = ""
    identity: object | None = None
    client_context: object | None = None
    tenant_id: str | None = None

    def __init__(
        self,
        function_name: str,
        invoked_function_arn: str,
        aws_request_id: str,
        deadline: float,
        log_group_name: str = "",
    ) -> None:
        self.function_name = function_name
        self.invoked_function_arn = invoked_function_arn
        self.aws_request_id = aws_request_id
        self.deadline = deadline
        self.log_group_name = log_group_name

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the route's timeout, never below zero."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext({self.function_name!r}, aws_request_id={self.aws_request_id!r})"

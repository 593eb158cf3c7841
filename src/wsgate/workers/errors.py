"""How an invocation in a worker fails: the error its runtime posted, or the platform's.

Both are :class:`FunctionError`, an ``IntegrationError``: the gateway's ``Handler`` turns
it into a 502 on ``$connect`` or the ``Internal server error`` frame on a message, as it
does for an in-process handler that raises. The error type and message are Lambda's:
what the runtime posted to ``/invocation/{id}/error`` or ``/init/error``
(``ValueError``, ``Runtime.ImportModuleError``, ...), or what Lambda says itself
(``Runtime.ExitError``: "Runtime exited with error: exit status 1").
"""

from __future__ import annotations

from wsgate.exceptions import IntegrationError


__all__ = ["FunctionError", "FunctionThrottled"]


class FunctionError(IntegrationError):
    """An invocation failed in its worker; ``str()`` is the ``errorMessage``.

    As on AWS, where API Gateway reads a Lambda error's ``errorMessage`` (an authorizer's
    ``Unauthorized`` is a 401 whatever the exception's class), the message alone is the
    error's text; ``error_type`` keeps the class.
    """

    def __init__(self, error_type: str, error_message: str, payload: object = None) -> None:
        super().__init__(error_message or error_type)
        self.error_type = error_type
        """Lambda's ``errorType``: the exception's class, or ``Runtime.*`` for the platform's."""
        self.error_message = error_message
        """Lambda's ``errorMessage``."""
        self.payload = payload
        """The error document the runtime posted (with its ``stackTrace``), if it posted one."""


class FunctionThrottled(FunctionError):
    """Every worker is busy and the waiting line is full (Lambda's 429 throttle)."""

    def __init__(self, message: str) -> None:
        super().__init__("TooManyRequestsException", message)

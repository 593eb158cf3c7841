"""Functions in processes of their own, behind the Lambda Runtime API.

Each function of ``functions:`` has a pool (``pool``) of workers (``worker``): a runtime
interface client process each (``runtimes``: ``awslambdaric`` for Python), started with
Lambda's environment (``environment``) and served the Runtime API on a loopback port of
its own (``runtime_api``, whose answers ``session`` decides). Their output and the
platform's START/END/REPORT lines go to the ``wsgate.function`` logger (``logs``).
A route or authorizer reaches a function through its pool (``FunctionIntegration``).
See docs/workers.md.
"""

from __future__ import annotations

from wsgate.workers.errors import FunctionError, FunctionThrottled
from wsgate.workers.pool import FunctionIntegration, FunctionPool, FunctionPools


__all__ = [
    "FunctionError",
    "FunctionIntegration",
    "FunctionPool",
    "FunctionPools",
    "FunctionThrottled",
]

"""The environment a worker starts with: Lambda's variables, and little of the gateway's.

A worker gets what Lambda sets for a function (CONTRACT-RUNTIME.md §1.7), the function's
own ``environment``, and credentials, all before any user code is imported. Of the
gateway's own environment only :data:`PASS_THROUGH` reaches it: what a process needs to
run at all (``PATH``, ``HOME``, the locale, ``TMPDIR``) and ``AWS_CA_BUNDLE``, which
points at certificates the gateway trusts (its own self-signed one among them). Anything
else a function needs goes in its ``environment`` (``${env:NAME}`` reads the gateway's).

Never set here: ``AWS_LAMBDA_MAX_CONCURRENCY`` (it switches the runtime clients to
several invocations at once) and ``_LAMBDA_TELEMETRY_LOG_FD`` (they would write binary
log frames to it instead of stdout).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from wsgate.workers.preload.awslambdaric_main import VARIABLE as EXECUTE_API
from wsgate.workers.runtimes import RuntimeKind
from wsgate.workers.spec import FunctionSpec


__all__ = [
    "EXECUTE_API",
    "PASS_THROUGH",
    "PLACEHOLDER_CREDENTIALS",
    "log_stream_name",
    "worker_environment",
]

PASS_THROUGH = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL_LAMBDA",
)
"""The gateway's variables a worker inherits when they are set.

``AWS_ENDPOINT_URL_LAMBDA`` is set by the gateway itself once its Lambda Invoke API
listens (``invoke_api``): the functions' ``boto3.client("lambda")`` calls reach it."""

PLACEHOLDER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "wsgate", "AWS_SECRET_ACCESS_KEY": "wsgate"}
"""Given when the gateway has no key pair: botocore will not send an unsigned request."""

_DEFAULTS = {"LANG": "en_US.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin"}
"""Lambda's values, for what the gateway's environment does not have."""


def log_stream_name(now: datetime | None = None, token: str | None = None) -> str:
    """A log stream name of Lambda's form: ``2026/12/01/[$LATEST]<32 hex digits>``."""
    day = (now or datetime.now(UTC)).strftime("%Y/%m/%d")
    return f"{day}/[$LATEST]{token or secrets.token_hex(16)}"


def worker_environment(
    spec: FunctionSpec,
    kind: RuntimeKind,
    *,
    runtime_api: str,
    log_stream: str,
    parent: Mapping[str, str],
    execute_api: str = "",
) -> dict[str, str]:
    """The complete environment of one worker of ``spec``.

    Args:
        spec: the function.
        kind: its runtime's worker kind (``AWS_EXECUTION_ENV``, the import path).
        runtime_api: ``host:port`` of the worker's Runtime API.
        log_stream: the worker's ``AWS_LAMBDA_LOG_STREAM_NAME``.
        parent: the gateway's environment, of which only :data:`PASS_THROUGH` is read,
            and the credentials.
        execute_api: where the gateways' AWS-style names lead (``endpoints.published``),
            for the worker's preload; empty for none.
    """
    env = {name: parent[name] for name in PASS_THROUGH if parent.get(name)}
    for name, value in _DEFAULTS.items():
        env.setdefault(name, value)
    env.update(
        {
            "TZ": "UTC",
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(spec.code),
            "AWS_EXECUTION_ENV": kind.execution_env,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
        }
    )
    env.update(kind.import_path(Path(spec.code)))
    if "AWS_CA_BUNDLE" in env:
        # Node reads its extra authorities from this name: the SDK v3 then trusts the
        # gateway's self-signed TLS listener as boto3 does, with no change to the code.
        env["NODE_EXTRA_CA_CERTS"] = env["AWS_CA_BUNDLE"]
    if execute_api:
        env[EXECUTE_API] = execute_api
    env.update(_credentials(parent))
    # The config refuses Lambda's reserved names here, so this adds and never overrides.
    env.update(spec.environment)
    return env


def _credentials(parent: Mapping[str, str]) -> dict[str, str]:
    """The gateway's key pair (and session token) if it has one, else placeholders."""
    key, secret = parent.get("AWS_ACCESS_KEY_ID"), parent.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        return dict(PLACEHOLDER_CREDENTIALS)
    credentials = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    token = parent.get("AWS_SESSION_TOKEN")
    if token:
        credentials["AWS_SESSION_TOKEN"] = token
    return credentials

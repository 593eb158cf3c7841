"""``functions:``: Lambda functions run by process workers, as wsgate.yaml declares them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
)

from wsgate.config.common import FROZEN as _FROZEN
from wsgate.config.common import strings_from_scalars as _strings_from_scalars


__all__ = ["FUNCTION_RUNTIMES", "FunctionConfig", "FunctionName"]

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENV_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_LAMBDA_HANDLER = re.compile(r"(?P<module>[^\s:]+)\.(?P<function>[A-Za-z_][A-Za-z0-9_]*)")

FUNCTION_RUNTIMES = (
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
)
"""The ``runtime`` values of ``functions:``; each names a process worker kind."""

_RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
"""Variables Lambda sets itself and refuses in a function's environment."""

_RUNTIME_MODE_ENV = frozenset({"AWS_LAMBDA_MAX_CONCURRENCY", "_LAMBDA_TELEMETRY_LOG_FD"})
"""Variables that would switch the runtime interface clients into another mode."""


def _check_function_name(name: str) -> str:
    if not _FUNCTION_NAME.fullmatch(name):
        raise ValueError(
            f"invalid function name {name!r}: expected 1 to 64 letters, digits, '-' or '_' "
            "(Lambda's function names)"
        )
    return name


FunctionName: TypeAlias = Annotated[str, AfterValidator(_check_function_name)]
"""A Lambda function name: ``[A-Za-z0-9_-]{1,64}``."""


def _check_lambda_handler(value: str) -> str:
    match = _LAMBDA_HANDLER.fullmatch(value)
    parts = match["module"].replace("/", ".").split(".") if match else []
    if match is None or not all(parts) or value.startswith("/"):
        raise ValueError(
            f"invalid handler {value!r}: expected Lambda's module.function, e.g. "
            "'app.lambda_handler' or 'src/app.handler' (the module relative to code)"
        )
    return value


LambdaHandler: TypeAlias = Annotated[str, AfterValidator(_check_lambda_handler)]
"""Lambda's handler string: ``module.function``, the module relative to the code folder."""


def _check_function_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(
            f"invalid variable name {name!r}: expected a letter, then letters, digits or '_'"
        )
    if name in _RESERVED_ENV:
        raise ValueError(f"{name} is reserved: Lambda sets it for every function")
    if name in _RUNTIME_MODE_ENV:
        raise ValueError(f"{name} cannot be set: it changes how the runtime client runs")
    return name


FunctionEnvName: TypeAlias = Annotated[str, AfterValidator(_check_function_env_name)]
"""A variable a function's ``environment`` may set (not one of Lambda's reserved names)."""


class FunctionConfig(BaseModel):
    """A Lambda function run in worker processes of its own, behind the Lambda Runtime API.

    Each worker is the runtime's official interface client (``awslambdaric`` for Python)
    with Lambda's environment, the function's folder as its working directory, one
    invocation at a time. See ``docs/workers.md``.
    """

    model_config = _FROZEN

    runtime: Literal[
        "python3.11", "python3.12", "python3.13", "nodejs18.x", "nodejs20.x", "nodejs22.x"
    ] = Field(
        description=(
            "Lambda's runtime identifier. It chooses the kind of worker (python: "
            "awslambdaric under the gateway's own interpreter; nodejs: aws-lambda-ric "
            "under the node on PATH)."
        ),
    )
    code: Path = Field(
        description=(
            "The function's folder (Lambda's /var/task): the workers' working directory "
            "and import path; a relative path is relative to the config file's folder."
        ),
    )
    handler: LambdaHandler = Field(
        description=(
            "Lambda's handler string, `app.lambda_handler`: the module's path relative to "
            "`code` (dots or slashes), a dot, and the function's name."
        ),
    )
    timeout: float = Field(
        default=3,
        gt=0,
        le=900,
        description=(
            "Seconds an invocation may run before its worker is killed (Lambda: default 3, "
            "maximum 900). A route's own `timeout` applies too: the shorter one wins."
        ),
    )
    memory_size: int = Field(
        default=128,
        ge=128,
        le=10240,
        description=(
            "Megabytes, as Lambda's MemorySize: the workers' "
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE and the REPORT line's Memory Size (not enforced)."
        ),
    )
    environment: Annotated[dict[FunctionEnvName, str], BeforeValidator(_strings_from_scalars)] = (
        Field(
            default_factory=dict,
            description=(
                "The function's own environment variables. Lambda's reserved names "
                "(AWS_REGION, _HANDLER, the credentials, ...) are refused."
            ),
        )
    )
    concurrency: int = Field(
        default=10,
        ge=1,
        description=(
            "Most workers, hence invocations at once; further invocations wait for one "
            "(Lambda's reserved concurrency)."
        ),
    )
    deployed_name: FunctionName | None = Field(
        default=None,
        description=(
            "The name the function has on AWS, when not its key (a serverless.yml's "
            "`{service}-{stage}-{name}`, a template's FunctionName): Lambda's Invoke API "
            "answers to it and to its ARN as well as to the key."
        ),
    )
    idle_timeout: float = Field(
        default=300,
        gt=0,
        description="Seconds a warm worker waits for an invocation before it is stopped.",
    )

"""One Lambda function of a project as a wsgate function (a process worker)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from wsgate.config.model import FUNCTION_RUNTIMES
from wsgate.project.assemble import TreeBuilder


__all__ = ["FunctionSpec", "Setting", "add_function"]

_LAMBDA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class Setting:
    """A value read from the project file and the key path it was read at."""

    value: object
    key: str


@dataclass
class FunctionSpec:
    """A function as a project file describes it, each value with its key path."""

    name: str
    key: str
    """Key path of the function itself (``functions.chat``, ``Resources.ChatFunction``)."""
    runtime: Setting
    code: Setting
    """A folder, already resolved against the project's folder."""
    handler: Setting
    timeout: Setting | None = None
    memory_size: Setting | None = None
    concurrency: Setting | None = None
    environment: dict[str, Setting] = field(default_factory=dict)
    deployed_name: Setting | None = None
    """The name the function has on AWS, which Lambda's Invoke API answers to."""


def add_function(builder: TreeBuilder, spec: FunctionSpec) -> None:
    """Add ``spec`` under ``functions:``; a runtime wsgate cannot run or a code folder that
    is not there is an error naming the key."""
    runtime = spec.runtime.value
    if runtime not in FUNCTION_RUNTIMES:
        raise builder.error(
            spec.runtime.key,
            f"runtime {runtime!r} cannot be run: wsgate runs {', '.join(FUNCTION_RUNTIMES)}",
        )
    code = spec.code.value
    if not isinstance(code, Path) or not code.is_dir():
        raise builder.error(spec.code.key, f"the code folder {str(code)!r} does not exist")
    loc = ("functions", spec.name)
    builder.set(loc, {}, spec.key)
    builder.set((*loc, "runtime"), runtime, spec.runtime.key)
    builder.set((*loc, "code"), str(code), spec.code.key)
    builder.set((*loc, "handler"), spec.handler.value, spec.handler.key)
    deployed = spec.deployed_name
    if deployed is not None and deployed.value != spec.name:
        if isinstance(deployed.value, str) and _LAMBDA_NAME.fullmatch(deployed.value):
            builder.set((*loc, "deployed_name"), deployed.value, deployed.key)
        else:
            # E.g. a FunctionName made of AWS::StackName, itself the folder's name here.
            builder.note(
                deployed.key,
                f"{deployed.value!r} is not a Lambda function name",
                f"Lambda's Invoke API knows the function as {spec.name} only",
            )
    for name in ("timeout", "memory_size", "concurrency"):
        setting = getattr(spec, name)
        if setting is not None:
            builder.set((*loc, name), setting.value, setting.key)
    if spec.environment:
        builder.set((*loc, "environment"), {}, f"{spec.key}.environment")
        for variable, setting in spec.environment.items():
            builder.set((*loc, "environment", variable), setting.value, setting.key)

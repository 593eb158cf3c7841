"""A template as a stack of this gateway: its parameters' values and the pseudo parameters
intrinsics resolve against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsgate.exceptions import ConfigError
from wsgate.project.assemble import TreeBuilder
from wsgate.project.intrinsics import Stack
from wsgate.project.options import ProjectOptions


__all__ = ["ACCOUNT_ID", "make_stack", "mapping"]

ACCOUNT_ID = "123456789012"


def make_stack(
    tree: dict[str, Any],
    resources: dict[str, dict[str, Any]],
    builder: TreeBuilder,
    base_dir: Path,
    options: ProjectOptions,
    api_ids: dict[str, str],
) -> Stack:
    """The stack of ``tree``; ``api_ids`` is filled in later, once the API is chosen.

    Raises:
        ConfigError: a parameter has no value or a value it does not allow, or an
            override names neither a parameter nor a resource.
    """
    region = options.region_of()
    stack_name = options.stack_name or base_dir.name or "wsgate"
    parameters = _parameters(tree, builder, options)
    for name in options.parameter_overrides:
        if name not in parameters and name not in resources:
            raise ConfigError(
                f"{options.override_origin(name)} {name}: {builder.source} has no parameter "
                f"or resource {name!r}"
            )
    return Stack(
        source=builder.source,
        root="Resources",
        resources=resources,
        parameters=parameters,
        conditions=mapping(tree, "Conditions", builder),
        mappings=mapping(tree, "Mappings", builder),
        pseudo={
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/local"
            ),
        },
        physical_names=options.physical_names(set(resources)),
        api_ids=api_ids,
        attributes=options.resource_attributes,
        unresolved=lambda key, message: builder.note(key, message, "used as it is"),
    )


def _parameters(
    tree: dict[str, Any], builder: TreeBuilder, options: ProjectOptions
) -> dict[str, object]:
    declared = mapping(tree, "Parameters", builder)
    values: dict[str, object] = {}
    for name, spec in declared.items():
        key = f"Parameters.{name}"
        if not isinstance(spec, dict):
            raise builder.error(key, "expected a mapping with Type and Default")
        if name in options.parameter_overrides:
            value: object = options.parameter_overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            builder.unresolvable(
                key, f"has no Default: give it a value with --parameter-overrides {name}=VALUE"
            )
            values[name] = f"${{{name}}}"  # stands for the value, so the rest is read
            continue
        allowed = spec.get("AllowedValues")
        if isinstance(allowed, list) and str(value) not in [str(v) for v in allowed]:
            raise builder.error(key, f"{value!r} is not one of AllowedValues {allowed!r}")
        kind = str(spec.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            value = [part.strip() for part in str(value).split(",")]
        elif not isinstance(value, str):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        values[name] = value
    return values


def mapping(tree: dict[str, Any], name: str, builder: TreeBuilder) -> dict[str, Any]:
    """The top-level section ``name`` of the template; absent is empty."""
    value = tree.get(name) or {}
    if not isinstance(value, dict):
        raise builder.error(name, "expected a mapping")
    return value

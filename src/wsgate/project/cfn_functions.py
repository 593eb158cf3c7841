"""A template's ``AWS::Serverless::Function`` or ``AWS::Lambda::Function`` as a wsgate
function: its properties over ``Globals.Function`` (SAM), its code folder or inline
source, its environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsgate.project.assemble import TreeBuilder
from wsgate.project.cfn_resources import SAM_FUNCTION, Keys, note_properties
from wsgate.project.functions import FunctionSpec, Setting, add_function
from wsgate.project.inline import inline_file_name, write_inline_code
from wsgate.project.intrinsics import Resolver


__all__ = ["add_template_function"]


def add_template_function(
    fid: str,
    resource: dict[str, Any],
    tree: dict[str, Any],
    builder: TreeBuilder,
    resolver: Resolver,
    keys: Keys,
    base_dir: Path,
    deployed_name: Setting | None = None,
) -> None:
    """Add the function resource ``fid`` under ``functions:``."""
    sam = resource["Type"] == SAM_FUNCTION
    props, origins = _properties(fid, resource, tree, builder, sam)
    note_properties(builder, keys, fid, resource["Type"], props)

    def setting(name: str) -> Setting | None:
        if name not in props:
            return None
        return Setting(resolver.resolve(props[name], origins[name]), origins[name])

    if props.get("PackageType") == "Image":
        raise builder.error(origins["PackageType"], "container images are not run")
    handler = setting("Handler")
    runtime = setting("Runtime")
    for name, found in (("Handler", handler), ("Runtime", runtime)):
        if found is None:
            raise builder.error(f"Resources.{fid}.Properties.{name}", "required")
    assert handler is not None and runtime is not None
    spec = FunctionSpec(
        name=fid,
        key=f"Resources.{fid}",
        runtime=runtime,
        code=_code(fid, props, origins, sam, handler, runtime, builder, resolver, base_dir),
        handler=handler,
        timeout=setting("Timeout"),
        memory_size=setting("MemorySize"),
        concurrency=setting("ReservedConcurrentExecutions"),
        deployed_name=deployed_name,
    )
    environment = props.get("Environment")
    if environment is not None:
        env_key = origins["Environment"]
        variables = resolver.resolve(environment, env_key)
        variables = variables.get("Variables", {}) if isinstance(variables, dict) else None
        if not isinstance(variables, dict):
            raise builder.error(env_key, "expected a mapping with Variables")
        for variable, value in variables.items():
            vkey = f"{env_key}.Variables.{variable}"
            spec.environment[str(variable)] = Setting(resolver.string(value, vkey), vkey)
    add_function(builder, spec)


def _properties(
    fid: str, resource: dict[str, Any], tree: dict[str, Any], builder: TreeBuilder, sam: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The function's properties over ``Globals.Function`` (SAM only), and where each
    came from; ``Environment.Variables`` are merged, the function's winning."""
    props = resource.get("Properties") or {}
    if not isinstance(props, dict):
        raise builder.error(f"Resources.{fid}.Properties", "expected a mapping")
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if sam:
        globals_ = tree.get("Globals") or {}
        defaults = globals_.get("Function") if isinstance(globals_, dict) else None
        for name, value in (defaults or {}).items():
            merged[name] = value
            origins[name] = f"Globals.Function.{name}"
    for name, value in props.items():
        origins[name] = f"Resources.{fid}.Properties.{name}"
        base = merged.get(name)
        if name == "Environment" and isinstance(base, dict) and isinstance(value, dict):
            variables = {**(base.get("Variables") or {}), **(value.get("Variables") or {})}
            merged[name] = {**base, **value, "Variables": variables}
        else:
            merged[name] = value
    if sam and "InlineCode" in props:
        # The function's own InlineCode wins over a CodeUri of Globals.Function.
        merged.pop("CodeUri", None)
    return merged, origins


def _code(
    fid: str,
    props: dict[str, Any],
    origins: dict[str, str],
    sam: bool,
    handler: Setting,
    runtime: Setting,
    builder: TreeBuilder,
    resolver: Resolver,
    base_dir: Path,
) -> Setting:
    """The code folder: a local folder, or the inline source written to one."""
    name = "CodeUri" if sam else "Code"
    if sam and "InlineCode" in props:
        return _inline(
            fid, props["InlineCode"], origins["InlineCode"], handler, runtime, builder, resolver
        )
    if name not in props:
        raise builder.error(f"Resources.{fid}.Properties.{name}", "required")
    key = origins[name]
    value = resolver.resolve(props[name], key)
    if isinstance(value, dict) and "ZipFile" in value and not sam:
        zipfile = value["ZipFile"]
        return _inline(fid, zipfile, f"{key}.ZipFile", handler, runtime, builder, resolver)
    if not isinstance(value, str) or value.startswith("s3://"):
        raise builder.error(
            key,
            f"the code must be a local folder or inline source, got {value!r} (wsgate runs "
            "the code of your working copy, before packaging)",
        )
    return Setting((base_dir / value).resolve(), key)


def _inline(
    fid: str,
    source: object,
    key: str,
    handler: Setting,
    runtime: Setting,
    builder: TreeBuilder,
    resolver: Resolver,
) -> Setting:
    text = resolver.string(source, key)
    file_name = inline_file_name(str(runtime.value))
    if not str(handler.value).startswith("index."):
        raise builder.error(
            handler.key,
            f"inline source is written to {file_name} (as CloudFormation does), so the "
            f"handler must be index.<function>, got {handler.value!r}",
        )
    # An unknown runtime is refused by add_function, naming its key, before anything runs.
    return Setting(write_inline_code(fid, str(runtime.value), text), key)

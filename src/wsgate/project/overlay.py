"""A wsgate.yaml that imports a project file, and overrides what it resolves to.

``import: serverless.yml`` (or ``import: {path: template.yaml, stage: test, ...}``) reads
the project file as ``--config`` would; every other key of the wsgate.yaml is then merged
over the config the import gives, by one rule:

- a mapping is merged key by key, recursively (``functions.chat.environment.X`` changes
  one variable and keeps the others);
- anything else, lists included, replaces what the import gave (``null`` too:
  ``server.tls_port: null`` serves ws:// only);
- a route or the authorizer given an integration (``handler`` or ``function``) loses the
  other one, and an authorizer of another ``type`` replaces the imported one whole.

Keys are then validated as a wsgate.yaml's: an unknown key, or a value of the wrong type,
is an error naming the wsgate.yaml and the key path. The command line wins over
``import:``'s options (``--stage`` over ``import.stage``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsgate.config.env import interpolate_env, key_path
from wsgate.config.files import resolve_paths
from wsgate.exceptions import ConfigError
from wsgate.project.assemble import TreeBuilder
from wsgate.project.detect import read_config_file
from wsgate.project.load import Project, built_project, translate_project
from wsgate.project.options import ProjectOptions
from wsgate.project.samconfig import parse_parameter_overrides
from wsgate.project.yamlfile import YamlFile, read_yaml_file


__all__ = ["IMPORT_OPTIONS", "load_importing", "merge_overrides"]

IMPORT_OPTIONS = {
    "path": "the serverless.yml or template, relative to the wsgate.yaml",
    "stage": "--stage",
    "region": "--region",
    "parameter_overrides": "--parameter-overrides (a mapping, or SAM's 'A=1 B=2')",
    "config_env": "--config-env",
    "api": "--api",
    "params": "--param (a mapping)",
    "vars": "--var (a mapping)",
}
"""The keys of ``import:`` as a mapping, each the command-line option it stands for."""

_INTEGRATIONS = ("handler", "function")


def load_importing(
    file: Path | YamlFile,
    options: ProjectOptions | None = None,
    *,
    allow_unresolved: bool = False,
) -> Project:
    """The config of the wsgate.yaml at ``file`` (or read already): its import with its
    keys merged over.

    Args:
        allow_unresolved: as :func:`~wsgate.project.load.load_project`'s.

    Raises:
        ConfigError: the wsgate.yaml, the import or the merged config is not valid; the
            message names the file and the key path.
    """
    options = ProjectOptions() if options is None else options
    document = file if isinstance(file, YamlFile) else read_yaml_file(file)
    path, source = document.path, document.source
    tree = document.tree()
    if not isinstance(tree, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    try:
        tree = interpolate_env(tree, options.env())
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    assert isinstance(tree, dict)
    imported, options = _read_import(tree.pop("import"), source, path.parent, options)
    builder, kind = translate_project(imported, options)
    merge_overrides(builder, tree, source)
    config = resolve_paths(builder.validate(), path.absolute().parent)
    return built_project(
        builder, kind, config, imported=imported.path, allow_unresolved=allow_unresolved
    )


def merge_overrides(builder: TreeBuilder, overrides: Mapping[str, Any], source: str) -> None:
    """Merge ``overrides`` (a wsgate.yaml's keys) over the tree ``builder`` holds."""
    functions = overrides.get("functions")
    if isinstance(functions, dict):
        known = builder.tree.get("functions", {})
        for name, function in functions.items():
            if name not in known and not (isinstance(function, dict) and "runtime" in function):
                raise ConfigError(
                    f"{source}: functions.{name}: {Path(builder.source).name} has no function "
                    f"{name!r} "
                    f"(functions: {', '.join(known) or 'none'}); a new one needs runtime, "
                    "code and handler"
                )
    for key, value in overrides.items():
        _merge(builder, (str(key),), value, source)


def _merge(builder: TreeBuilder, loc: tuple[str, ...], value: object, source: str) -> None:
    existing = _get(builder.tree, loc)
    if not (isinstance(value, dict) and isinstance(existing, dict)) or _replaces(
        loc, value, existing
    ):
        builder.set(loc, value, ".".join(loc), source)
        return
    if _is_integration_owner(loc):
        # Giving one integration drops the other: a route is a handler or a function.
        for given, other in (_INTEGRATIONS, _INTEGRATIONS[::-1]):
            if given in value and other not in value and other in existing:
                del existing[other]
    for key, item in value.items():
        _merge(builder, (*loc, str(key)), item, source)


def _is_integration_owner(loc: tuple[str, ...]) -> bool:
    return loc == ("authorizer",) or (len(loc) == 2 and loc[0] == "routes")


def _replaces(loc: tuple[str, ...], value: dict[Any, Any], existing: dict[Any, Any]) -> bool:
    """An authorizer of another type replaces the imported one whole."""
    if loc != ("authorizer",):
        return False
    return bool(value.get("type", "request") != existing.get("type", "request"))


def _get(tree: dict[str, Any], loc: tuple[str, ...]) -> object:
    node: object = tree
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _read_import(
    spec: object, source: str, folder: Path, options: ProjectOptions
) -> tuple[YamlFile, ProjectOptions]:
    """The imported file, parsed, and the options it is read with (the command line's
    winning)."""
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{source}: import: expected a file name or a mapping with 'path', got {spec!r}"
        )
    for key in spec:
        if key not in IMPORT_OPTIONS:
            raise ConfigError(
                f"{source}: import.{key}: unknown key (known keys: {', '.join(IMPORT_OPTIONS)})"
            )
    name = spec.get("path")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: import.path: expected the file to import, got {name!r}")
    imported = folder / name
    if not imported.is_file():
        raise ConfigError(f"{source}: import.path: {str(imported)!r} is not a file")
    read = read_config_file(imported)
    if read.kind == "wsgate":
        raise ConfigError(
            f"{source}: import.path: {imported} is neither a serverless.yml nor a "
            "CloudFormation or SAM template"
        )
    return read.document, _options(spec, source, options)


def _options(spec: dict[str, Any], source: str, options: ProjectOptions) -> ProjectOptions:
    changes: dict[str, Any] = {}
    for key in ("stage", "region", "config_env", "api"):
        if key in spec and getattr(options, key) is None:
            changes[key] = _string(spec[key], f"{source}: import.{key}")
    if "parameter_overrides" in spec:
        where = f"{source}: import.parameter_overrides"
        from_file = _overrides(spec["parameter_overrides"], where)
        changes["parameter_overrides"] = {**from_file, **options.parameter_overrides}
        changes["override_origins"] = {
            **{k: where for k in from_file},
            **{k: options.override_origin(k) for k in options.parameter_overrides},
        }
    for key, field in (("params", "params"), ("vars", "variables")):
        if key in spec:
            given = _mapping(spec[key], f"{source}: import.{key}")
            changes[field] = {**given, **getattr(options, field)}
    return dataclasses.replace(options, **changes)


def _overrides(value: object, where: str) -> dict[str, str]:
    if isinstance(value, dict):
        return _mapping(value, where)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: expected a mapping, a string or a list, got {value!r}")
    return parse_parameter_overrides(items, where)


def _mapping(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    result = {}
    for key, item in value.items():
        if isinstance(item, dict | list) or item is None:
            raise ConfigError(f"{key_path(where, key)}: expected a string, got {item!r}")
        result[str(key)] = item if isinstance(item, str) else _scalar(item)
    return result


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value

"""SAM CLI's configuration file beside a template: ``samconfig.toml`` (or ``.yaml``/``.yml``).

Read as ``sam deploy`` and ``sam local start-api`` read it: the tables
``[<env>.global.parameters]``, ``[<env>.deploy.parameters]`` and
``[<env>.local_start_api.parameters]`` of the environment ``--config-env`` names
(``default`` unless given), the later table winning for each option. Three options have a
local meaning: ``parameter_overrides``, ``region`` and ``stack_name``; the others (S3
buckets, capabilities, ...) are about deploying. The command line wins over the file.
"""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wsgate.exceptions import ConfigError
from wsgate.project.options import ProjectOptions
from wsgate.project.reads import note
from wsgate.project.yamlfile import read_text, read_yaml


__all__ = ["SAMCONFIG_FILES", "apply_samconfig", "parse_parameter_overrides"]

SAMCONFIG_FILES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")
"""Looked for in the template's folder, in this order (SAM CLI's)."""

_COMMANDS = ("global", "deploy", "local_start_api")
"""The tables read, each winning over the one before: ``local_start_api`` is the SAM
command closest to what wsgate does, so its values are the local ones."""


def parse_parameter_overrides(items: Iterable[str], where: str) -> dict[str, str]:
    """``Key=Value`` pairs as SAM CLI takes them: each item may hold several separated by
    spaces, a value may be quoted (``Key="a b"``), and ``ParameterKey=K,ParameterValue=V``
    is the long form.

    Raises:
        ConfigError: an item is not of that form; the message begins with ``where``.
    """
    overrides: dict[str, str] = {}
    for item in items:
        try:
            words = shlex.split(item)
        except ValueError as exc:
            raise ConfigError(f"{where} {item!r}: {exc}") from None
        for word in words:
            if word.startswith("ParameterKey="):
                key, sep, value = word.removeprefix("ParameterKey=").partition(",ParameterValue=")
            else:
                key, sep, value = word.partition("=")
            if not sep or not key:
                raise ConfigError(f"{where} {word!r}: expected KEY=VALUE")
            overrides[key] = value
    return overrides


def apply_samconfig(base_dir: Path, options: ProjectOptions) -> ProjectOptions:
    """``options`` completed from the samconfig file in ``base_dir``, if there is one.

    Raises:
        ConfigError: the file cannot be read, has no environment ``--config-env`` names,
            or an option has the wrong type; the message names the file and the key.
    """
    for name in SAMCONFIG_FILES:  # one made later is read by a reload
        note(base_dir / name)
    path = next((base_dir / n for n in SAMCONFIG_FILES if (base_dir / n).is_file()), None)
    if path is None:
        if options.config_env is not None:
            raise ConfigError(
                f"--config-env {options.config_env}: no {', '.join(SAMCONFIG_FILES)} in {base_dir}"
            )
        return options
    name = path.name
    document = _read(path)
    env = options.config_env or "default"
    if env not in document:
        if options.config_env is None:
            return options  # SAM CLI too reads nothing then
        known = ", ".join(k for k, v in document.items() if isinstance(v, dict)) or "none"
        raise ConfigError(
            f"--config-env {env}: {name} has no environment {env!r} (environments: {known})"
        )
    found: dict[str, tuple[object, str]] = {}
    for command in _COMMANDS:
        table = _table(document, (env, command, "parameters"), name)
        for option in ("parameter_overrides", "region", "stack_name"):
            if option in table:
                found[option] = (table[option], f"{name}: {env}.{command}.parameters.{option}")
    changes: dict[str, Any] = {}
    if "parameter_overrides" in found:
        value, key = found["parameter_overrides"]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{key}: expected a string or a list of strings, got {value!r}")
        from_file = parse_parameter_overrides(items, key)
        changes["parameter_overrides"] = {**from_file, **options.parameter_overrides}
        changes["override_origins"] = {
            **{k: key for k in from_file},
            **{k: options.override_origin(k) for k in options.parameter_overrides},
        }
    for option in ("region", "stack_name"):
        if option in found and getattr(options, option) is None:
            value, key = found[option]
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{key}: expected a string, got {value!r}")
            changes[option] = value
    return dataclasses.replace(options, **changes)


def _read(path: Path) -> dict[str, Any]:
    if path.suffix == ".toml":
        try:
            document: object = tomllib.loads(read_text(path, path.name))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None
    else:
        document = read_yaml(path, path.name)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name}: expected tables of environments, got {document!r}")
    return document


def _table(document: dict[str, Any], path: tuple[str, ...], name: str) -> dict[str, Any]:
    node: object = document
    for depth, part in enumerate(path):
        if not isinstance(node, dict):
            raise ConfigError(f"{name}: {'.'.join(path[:depth])}: expected a table")
        node = node.get(part, {})
    if not isinstance(node, dict):
        raise ConfigError(f"{name}: {'.'.join(path)}: expected a table")
    return node

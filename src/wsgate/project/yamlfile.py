"""Read a project file: YAML with CloudFormation's tags, or JSON.

The tags (``!Ref``, ``!Sub``, ``!GetAtt``, ...) are parsed by cfn-flip's loader
(``cfn_tools.yaml_loader.CfnYamlLoader``, a ``yaml.SafeLoader``), which turns each into its
long form (``{"Fn::Sub": ...}``, ``{"Ref": ...}``); serverless.yml accepts the same tags.
On top of it, a key given twice in one mapping is an error instead of the last one winning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cfn_tools.yaml_loader import CfnYamlLoader

from wsgate.config.files import compose_yaml, construct_yaml, refuse_duplicate_keys
from wsgate.exceptions import ConfigError
from wsgate.project.reads import note


__all__ = ["YamlFile", "read_text", "read_yaml", "read_yaml_file"]

_MAP_TAG = "tag:yaml.org,2002:map"


class _Loader(CfnYamlLoader):  # type: ignore[misc]
    """cfn-flip's loader, refusing duplicate keys."""


def _construct_unique_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)  # ``<<`` merge keys, as yaml.SafeLoader's own mappings
    refuse_duplicate_keys(node)
    return {
        loader.construct_object(key_node, deep=True): loader.construct_object(value_node, deep=True)
        for key_node, value_node in node.value
    }


_Loader.add_constructor(_MAP_TAG, _construct_unique_mapping)


@dataclass(frozen=True)
class YamlFile:
    """A YAML (or JSON) file read and parsed once; each reader builds its values from it."""

    path: Path
    source: str
    """How errors name the file."""
    node: yaml.Node | None
    """The parsed document; None when it is empty."""

    def tree(self) -> object:
        """The document's values, CloudFormation's tags in their long form; a new tree at
        each call, which the caller may change.

        Raises:
            ConfigError: a key given twice in one mapping, naming the line and column.
        """
        return construct_yaml(self.node, _Loader, self.source)


def read_text(path: Path, source: str | None = None) -> str:
    """The text of ``path``; errors name it as ``source`` (default: the path as given)."""
    name = str(path) if source is None else source
    note(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot be read: {exc.strerror or exc}") from None


def read_yaml_file(path: Path, source: str | None = None) -> YamlFile:
    """Read and parse the YAML (or JSON) file at ``path``.

    Raises:
        ConfigError: the file cannot be read or parsed; the message names the file, and
            the line and column of a syntax error.
    """
    name = str(path) if source is None else source
    return YamlFile(path, name, compose_yaml(read_text(path, name), name))


def read_yaml(path: Path, source: str | None = None) -> object:
    """The values of the YAML (or JSON) file at ``path``; an empty file is None.

    Raises:
        ConfigError: as :func:`read_yaml_file` and :meth:`YamlFile.tree`.
    """
    return read_yaml_file(path, source).tree()

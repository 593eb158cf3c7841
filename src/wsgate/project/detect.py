"""Which kind of file a config is, told by its content, and which file a folder serves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from wsgate.project.yamlfile import YamlFile, read_yaml_file


__all__ = [
    "DEFAULT_FILES",
    "ConfigFile",
    "ConfigKind",
    "detect_kind",
    "find_default_config",
    "read_config_file",
]

ConfigKind: TypeAlias = Literal["wsgate", "serverless", "cloudformation"]

DEFAULT_FILES = (
    "wsgate.yaml",
    "serverless.yml",
    "serverless.yaml",
    "template.yaml",
    "template.yml",
)
"""What ``wsgate serve`` without ``--config`` looks for in the current folder, in order."""

_SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def detect_kind(tree: object) -> ConfigKind:
    """Tell a serverless.yml, a CloudFormation or SAM template and a wsgate.yaml apart.

    ``service:`` with ``functions:`` is a Serverless Framework service; ``Resources:``,
    ``AWSTemplateFormatVersion:`` or SAM's ``Transform:`` is a template; anything else is
    left to the wsgate.yaml loader, which explains what it expected.
    """
    if not isinstance(tree, dict):
        return "wsgate"
    if "service" in tree and "functions" in tree:
        return "serverless"
    transform = tree.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    if "Resources" in tree or "AWSTemplateFormatVersion" in tree or _SAM_TRANSFORM in transforms:
        return "cloudformation"
    return "wsgate"


@dataclass(frozen=True)
class ConfigFile:
    """A config file parsed once, and what kind of file it is."""

    document: YamlFile
    kind: ConfigKind
    imports: bool
    """A wsgate.yaml with ``import:``: local settings over a project file."""

    @property
    def is_project(self) -> bool:
        """Whether it is a project file, or a wsgate.yaml importing one."""
        return self.kind != "wsgate" or self.imports


def read_config_file(path: Path) -> ConfigFile:
    """Read and parse the config file at ``path``, and tell its kind by its content.

    Raises:
        ConfigError: the file cannot be read or is not YAML.
    """
    document = read_yaml_file(path)
    tree = document.tree()
    kind = detect_kind(tree)
    imports = kind == "wsgate" and isinstance(tree, dict) and "import" in tree
    return ConfigFile(document, kind, imports)


def find_default_config(folder: Path) -> Path | None:
    """The first of :data:`DEFAULT_FILES` present in ``folder``, relative to it; or None."""
    for name in DEFAULT_FILES:
        if (folder / name).is_file():
            return Path(name) if folder == Path() else folder / name
    return None

"""Which kind of file a config is, told by its content, and which file a folder serves."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeAlias


__all__ = ["DEFAULT_FILES", "ConfigKind", "detect_kind", "find_default_config"]

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


def find_default_config(folder: Path) -> Path | None:
    """The first of :data:`DEFAULT_FILES` present in ``folder``, relative to it; or None."""
    for name in DEFAULT_FILES:
        if (folder / name).is_file():
            return Path(name) if folder == Path() else folder / name
    return None

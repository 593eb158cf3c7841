"""Serve a project as it stands: a serverless.yml or a CloudFormation / SAM template.

A pure translation to :class:`~wsgate.config.model.GatewayConfig`: the functions the
WebSocket API invokes become process workers (``functions:``), its routes, authorizer,
route selection expression and stage become wsgate's. What cannot be honoured locally is
returned as :class:`Notice` s, each with the key path and what wsgate does instead.
"""

from __future__ import annotations

from wsgate.project.detect import (
    DEFAULT_FILES,
    ConfigFile,
    ConfigKind,
    detect_kind,
    find_default_config,
    read_config_file,
)
from wsgate.project.load import Project, load_project
from wsgate.project.notices import Notice
from wsgate.project.options import ProjectOptions


__all__ = [
    "DEFAULT_FILES",
    "ConfigFile",
    "ConfigKind",
    "Notice",
    "Project",
    "ProjectOptions",
    "detect_kind",
    "find_default_config",
    "load_project",
    "read_config_file",
]

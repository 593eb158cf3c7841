"""What the command line adds to a project file: the stage, parameters, the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


__all__ = ["ProjectOptions"]


@dataclass(frozen=True)
class ProjectOptions:
    """Options of ``wsgate serve`` that a project file's values may depend on."""

    stage: str | None = None
    """``--stage``: serverless's ``${opt:stage}``/``${sls:stage}``, a template's stage."""
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    """``--parameter-overrides Key=Value``: a template's parameters, or the physical name
    of a resource wsgate does not run (by logical id)."""
    override_origins: Mapping[str, str] = field(default_factory=dict)
    """Where each of ``parameter_overrides`` was given, for errors (default: the flag)."""
    environ: Mapping[str, str] | None = None
    """Variables for ``${env:...}`` and ``WSGATE_REF_*``; None means ``os.environ``."""
    region: str | None = None
    """``--region``: wins over samconfig's ``region`` and ``provider.region``."""
    config_env: str | None = None
    """``--config-env``: the environment of samconfig.toml read (default: ``default``)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """``--param key=value``: serverless's ``${param:key}``, over the file's ``params``."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """``--var 'ssm:/path=value'``: the value of a serverless variable wsgate cannot
    resolve locally, by its text inside ``${...}``."""
    api: str | None = None
    """``--api LogicalId``: the WebSocket API served from a template that has several."""
    stack_name: str | None = None
    """samconfig's ``stack_name``: ``AWS::StackName`` (default: the folder's name)."""
    create_resources: bool = False
    """``--create-resources``: the DynamoDB tables are read to be created, not named as
    not created."""
    resource_attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """``!GetAtt`` values of created resources (``Arn``, ``StreamArn``), by logical id."""

    def env(self) -> Mapping[str, str]:
        """The environment values are read from."""
        return os.environ if self.environ is None else self.environ

    def region_of(self, configured: str | None = None) -> str:
        """The region: ``--region``, else ``configured`` (the file's), else AWS_REGION,
        AWS_DEFAULT_REGION, else ``us-east-1``."""
        env = self.env()
        return (
            self.region
            or configured
            or env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )

    def override_origin(self, name: str) -> str:
        """Where the override of ``name`` was given."""
        return self.override_origins.get(name, "--parameter-overrides")

    def physical_names(self, logical_ids: set[str]) -> dict[str, str]:
        """Names given for resources wsgate does not run: ``WSGATE_REF_<id>``, then
        ``--parameter-overrides <id>=name`` (which wins)."""
        env = self.env()
        names = {i: env[f"WSGATE_REF_{i}"] for i in logical_ids if f"WSGATE_REF_{i}" in env}
        names.update({k: v for k, v in self.parameter_overrides.items() if k in logical_ids})
        return names

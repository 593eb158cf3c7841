"""The command-line flags of ``wsgate serve``/``check`` that only project files take."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from wsgate.exceptions import ConfigError
from wsgate.project.options import ProjectOptions
from wsgate.project.samconfig import parse_parameter_overrides


__all__ = ["add_project_flags", "project_options", "refuse_project_flags"]


def add_project_flags(command: argparse.ArgumentParser) -> None:
    """``--region``, ``--config-env``, ``--api``, ``--param`` and ``--var``."""
    command.add_argument(
        "--region",
        help="the region: AWS::Region, the functions' AWS_REGION and ARNs (wins over "
        "samconfig's region and provider.region)",
    )
    command.add_argument(
        "--config-env",
        metavar="ENV",
        help="the environment of samconfig.toml to read (SAM CLI's; default: default)",
    )
    command.add_argument(
        "--api",
        metavar="LOGICAL_ID",
        help="the WebSocket API to serve, when a template has several",
    )
    command.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="serverless's ${param:KEY} (wins over the file's params); repeatable",
    )
    command.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="VARIABLE=VALUE",
        help="the value of a serverless variable that needs AWS, by its text: "
        "--var 'ssm:/app/url=VALUE'; repeatable",
    )


def project_options(args: argparse.Namespace) -> ProjectOptions:
    """The options a project file is read with, from the parsed command line."""
    return ProjectOptions(
        stage=args.stage,
        parameter_overrides=parse_parameter_overrides(
            args.parameter_overrides, "--parameter-overrides"
        ),
        region=args.region,
        config_env=args.config_env,
        api=args.api,
        params=_pairs(args.param, "--param"),
        variables=_pairs(args.var, "--var"),
    )


def refuse_project_flags(args: argparse.Namespace, path: Path) -> None:
    """Flags that only a project file takes are an error with a wsgate.yaml."""
    if args.parameter_overrides:
        raise ConfigError(f"--parameter-overrides: {path} is a wsgate.yaml, not a template")
    for flag in ("config_env", "api", "param", "var"):
        if getattr(args, flag):
            raise ConfigError(
                f"--{flag.replace('_', '-')}: {path} is a wsgate.yaml, not a serverless.yml "
                "or a template"
            )


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` items, split at the first ``=`` (no SSM name or parameter key holds
    one; a value, such as a token, may)."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        pairs[key.strip()] = value
    return pairs

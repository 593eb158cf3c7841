"""The command line's local AWS services: ``--endpoint`` and ``--create-resources``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from wsgate.config.aws import AwsSettings, endpoint_variable
from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError
from wsgate.project.create_tables import create_tables
from wsgate.project.load import Project
from wsgate.project.options import ProjectOptions


__all__ = ["add_aws_flags", "with_endpoints", "with_created_resources"]


def add_aws_flags(command: argparse.ArgumentParser, *, serve: bool) -> None:
    """``--endpoint`` (serve and check) and ``--create-resources`` (serve)."""
    command.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="aws.endpoints.SERVICE: sets AWS_ENDPOINT_URL_<SERVICE> for every function, "
        "e.g. --endpoint dynamodb=http://127.0.0.1:8000; repeatable",
    )
    if serve:
        command.add_argument(
            "--create-resources",
            action="store_true",
            help="create the template's DynamoDB tables on aws.endpoints.dynamodb at start "
            "(an existing table is left as it is)",
        )


def with_endpoints(config: GatewayConfig, items: list[str]) -> GatewayConfig:
    """``config`` with each ``--endpoint SERVICE=URL`` over its ``aws.endpoints``."""
    if not items:
        return config
    endpoints = dict(config.aws.endpoints)
    for item in items:
        service, sep, url = item.partition("=")
        if not sep or not service.strip() or not url.strip():
            raise ConfigError(f"--endpoint {item!r}: expected SERVICE=URL")
        endpoints[service.strip()] = url.strip()
    try:
        aws = AwsSettings(endpoints=endpoints)
    except ValueError as exc:
        raise ConfigError(f"--endpoint: {exc}") from None
    return config.model_copy(update={"aws": aws})


def with_created_resources(
    path: Path,
    project: Project,
    options: ProjectOptions,
    endpoints: dict[str, str],
    reload: Callable[[ProjectOptions], Project],
) -> Project:
    """Create ``project``'s tables on the dynamodb endpoint of ``endpoints``; the project
    (the file at ``path``) translated again by ``reload`` with the created tables' ``Arn``
    and ``StreamArn``.

    Raises:
        ConfigError: no dynamodb endpoint (tables are never created on AWS itself), or
            creating failed.
    """
    if not project.tables:
        return project
    wanted = endpoint_variable("dynamodb")
    endpoint = next(
        (url for service, url in endpoints.items() if endpoint_variable(service) == wanted),
        None,
    )
    if endpoint is None:
        raise ConfigError(
            f"--create-resources: {path} has tables "
            f"({', '.join(table.name for table in project.tables)}) but no local DynamoDB "
            "is given: add --endpoint dynamodb=URL (or aws.endpoints.dynamodb)"
        )
    attributes = create_tables(
        project.tables, endpoint=endpoint, region=project.config.api.region, credentials=os.environ
    )
    return reload(replace(options, resource_attributes=attributes))

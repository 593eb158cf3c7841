"""``--create-resources``: the template's DynamoDB tables created on a local endpoint.

A table that already exists is left as it is (its data kept), said in one line; each
table's ``Arn`` and ``StreamArn`` are what the endpoint answers, so that ``!GetAtt`` to
them resolves to the created table's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from wsgate.exceptions import ConfigError
from wsgate.project.tables import TableSpec


__all__ = ["ACTIVE_WAIT", "create_tables"]

ACTIVE_WAIT = 30.0
"""Seconds a created table may take to become ACTIVE (moto: at once; DynamoDB Local: ~0)."""
_CONNECT_TIMEOUT = 5.0

log = logging.getLogger("wsgate.project")


def create_tables(
    tables: Iterable[TableSpec], *, endpoint: str, region: str, credentials: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Create each of ``tables`` on ``endpoint``; their attributes by logical id.

    Raises:
        ConfigError: boto3 is not installed, the endpoint does not answer, or it refuses
            a table's definition (the message names the table's key).
    """
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ConfigError("--create-resources needs boto3: pip install 'wsgate[project]'") from None
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials.get("AWS_ACCESS_KEY_ID") or "wsgate",
        aws_secret_access_key=credentials.get("AWS_SECRET_ACCESS_KEY") or "wsgate",
        config=Config(
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_CONNECT_TIMEOUT * 2,
            retries={"max_attempts": 2},
        ),
    )
    attributes: dict[str, dict[str, str]] = {}
    for table in tables:
        try:
            description = _create(client, table, ClientError)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ConfigError(
                f"{table.key}: {endpoint} refused table {table.name!r}: "
                f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from None
        except BotoCoreError as exc:
            raise ConfigError(
                f"--create-resources: cannot reach DynamoDB at {endpoint} ({exc}); start it "
                "first (moto_server, DynamoDB Local) or fix aws.endpoints.dynamodb"
            ) from None
        attributes[table.logical_id] = {"Arn": description["TableArn"]}
        if description.get("LatestStreamArn"):
            attributes[table.logical_id]["StreamArn"] = description["LatestStreamArn"]
    return attributes


def _create(client: Any, table: TableSpec, client_error: type[Exception]) -> dict[str, Any]:
    """Create ``table`` unless it exists; its description once ACTIVE."""
    try:
        described: dict[str, Any] = client.describe_table(TableName=table.name)["Table"]
    except client_error as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
    else:
        log.info("%s: table %s exists: left as it is", table.key, table.name)
        return described
    created: dict[str, Any] = client.create_table(**table.request)["TableDescription"]
    deadline = time.monotonic() + ACTIVE_WAIT
    while created.get("TableStatus") not in (None, "ACTIVE"):
        if time.monotonic() > deadline:
            raise ConfigError(f"{table.key}: table {table.name} not ACTIVE after {ACTIVE_WAIT} s")
        time.sleep(0.2)
        created = client.describe_table(TableName=table.name)["Table"]
    if table.time_to_live is not None:
        client.update_time_to_live(TableName=table.name, TimeToLiveSpecification=table.time_to_live)
    log.info("%s: created table %s", table.key, table.name)
    return created


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))

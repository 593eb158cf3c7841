"""A template's DynamoDB tables as DynamoDB's CreateTable requests (``--create-resources``).

Only what decides how the table behaves is read: keys, attribute definitions, indexes,
billing mode and throughput, the stream and time to live. Properties with no local meaning
(encryption, backups, tags, deletion protection, ...) are named in a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsgate.project.assemble import TreeBuilder
from wsgate.project.intrinsics import Resolver


__all__ = ["TABLE_TYPES", "TableSpec", "read_table", "table_resource"]

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")

_CREATE = {
    "KeySchema",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "TableClass",
}
_READ = _CREATE | {"TableName", "StreamSpecification", "TimeToLiveSpecification"}
_SIMPLE_READ = {"TableName", "PrimaryKey", "ProvisionedThroughput"}


@dataclass(frozen=True)
class TableSpec:
    """One table to create, with where the template declares it."""

    logical_id: str
    key: str
    """Key path of the resource (``Resources.ConnectionsTable``)."""
    request: dict[str, Any]
    """CreateTable's parameters (boto3's names), TableName among them."""
    time_to_live: dict[str, Any] | None = None
    """UpdateTimeToLive's TimeToLiveSpecification, when the template enables it."""

    @property
    def name(self) -> str:
        """The table's name."""
        return str(self.request["TableName"])


def table_resource(
    builder: TreeBuilder, resolver: Resolver, logical_id: str, kind: str, *, create: bool
) -> None:
    """The table ``logical_id`` (of type ``kind``) of the resolver's stack: with ``create``
    (``--create-resources``) its CreateTable request is kept for the start; else a notice
    says how to point the functions at a table.

    Raises:
        ConfigError: as :func:`read_table`, when creating.
    """
    key = f"{resolver.stack.root}.{logical_id}"
    if create:
        table = read_table(logical_id, resolver.stack.resources[logical_id], key, builder, resolver)
        builder.tables.append(table)
        builder.note(key, f"table {table.name}", "created at start if missing", info=True)
        return
    ref = resolver.ref(logical_id, key)
    builder.note(
        key,
        f"{kind} is not created",
        f"!Ref {logical_id} is {ref!r}; point the functions at a real or local table of "
        f"that name, or rename it with --parameter-overrides {logical_id}=NAME or "
        f"WSGATE_REF_{logical_id}; or create it with --create-resources",
    )


def read_table(
    logical_id: str, resource: dict[str, Any], key: str, builder: TreeBuilder, resolver: Resolver
) -> TableSpec:
    """The CreateTable request of the table resource ``logical_id`` at ``key``.

    Raises:
        ConfigError: the definition lacks its keys or is not of CloudFormation's shape,
            naming the property.
    """
    props = resource.get("Properties") or {}
    where = f"{key}.Properties"
    if not isinstance(props, dict):
        raise builder.error(where, "expected a mapping")
    name = str(resolver.ref(logical_id, key))
    simple = resource.get("Type") == "AWS::Serverless::SimpleTable"
    read = _SIMPLE_READ if simple else _READ
    for prop in props:
        if prop not in read:
            builder.note(f"{where}.{prop}", f"{prop} has no local meaning", "left out", info=True)
    if simple:
        return TableSpec(logical_id, key, _simple_request(name, props, where, builder, resolver))
    request: dict[str, Any] = {"TableName": name}
    for prop in sorted(_CREATE & set(props)):
        request[prop] = resolver.resolve(props[prop], f"{where}.{prop}")
    for prop in ("KeySchema", "AttributeDefinitions"):
        if not isinstance(request.get(prop), list) or not request[prop]:
            raise builder.error(f"{where}.{prop}", "required: a list, to create the table")
    if request.get("BillingMode", "PROVISIONED") == "PROVISIONED":
        if request.get("ProvisionedThroughput") is None:
            raise builder.error(
                f"{where}.ProvisionedThroughput",
                "required with BillingMode PROVISIONED (CloudFormation's default); or set "
                "BillingMode: PAY_PER_REQUEST",
            )
    _numbers(request)
    stream = props.get("StreamSpecification")
    if stream is not None:
        stream = resolver.resolve(stream, f"{where}.StreamSpecification")
        if not isinstance(stream, dict) or "StreamViewType" not in stream:
            raise builder.error(f"{where}.StreamSpecification", "expected StreamViewType")
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    ttl = props.get("TimeToLiveSpecification")
    ttl = resolver.resolve(ttl, f"{where}.TimeToLiveSpecification") if ttl else None
    if ttl is not None and not isinstance(ttl, dict):
        raise builder.error(f"{where}.TimeToLiveSpecification", "expected a mapping")
    if isinstance(ttl, dict):
        ttl = {**ttl, "Enabled": ttl.get("Enabled") in (True, "true", "True")}
    return TableSpec(logical_id, key, request, ttl if ttl and ttl["Enabled"] else None)


def _simple_request(
    name: str, props: dict[str, Any], where: str, builder: TreeBuilder, resolver: Resolver
) -> dict[str, Any]:
    """SAM's SimpleTable: one string (or given) hash key ``id``, on demand unless throughput."""
    primary = resolver.resolve(props.get("PrimaryKey") or {}, f"{where}.PrimaryKey")
    if not isinstance(primary, dict):
        raise builder.error(f"{where}.PrimaryKey", "expected Name and Type")
    attribute = str(primary.get("Name", "id"))
    kind = {"String": "S", "Number": "N", "Binary": "B"}.get(str(primary.get("Type", "String")))
    if kind is None:
        raise builder.error(f"{where}.PrimaryKey.Type", "expected String, Number or Binary")
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": attribute, "AttributeType": kind}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if "ProvisionedThroughput" in props:
        request["BillingMode"] = "PROVISIONED"
        request["ProvisionedThroughput"] = resolver.resolve(
            props["ProvisionedThroughput"], f"{where}.ProvisionedThroughput"
        )
        _numbers(request)
    return request


def _numbers(request: dict[str, Any]) -> None:
    """Throughputs may be written as strings in a template; DynamoDB takes integers."""
    throughputs = [request.get("ProvisionedThroughput")]
    for index in request.get("GlobalSecondaryIndexes") or []:
        if isinstance(index, dict):
            throughputs.append(index.get("ProvisionedThroughput"))
    for throughput in throughputs:
        if isinstance(throughput, dict):
            for unit, value in throughput.items():
                if isinstance(value, str) and value.isdigit():
                    throughput[unit] = int(value)

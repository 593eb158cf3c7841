"""Three projects written as users write them, each served from its own file unchanged by
``wsgate serve`` as a real process, with DynamoDB on a real moto server that the test
starts, reached through ``--endpoint dynamodb=URL`` and filled by ``--create-resources``.

- ``sam-notify``: SAM, one CodeUri folder per function (dashes, all app.lambda_handler),
  Globals, a CUSTOM authorizer on a header, a two-way route, a management endpoint made
  with ``!Sub``, and a function on no route that $connect invokes with ``Event``.
- ``sls-router``: serverless.yml, one function on five routes dispatching on
  ``requestContext.routeKey``, provider and function environments, an authorizer function.
- ``cfn-node``: plain CloudFormation ``AWS::ApiGatewayV2`` resources with Node.js 20
  functions using DynamoDB through the AWS SDK v3.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.e2e.conftest import wait_for
from tests.e2e.project_process import refused, serve_project
from tests.moto_support import dynamodb, moto_server


FIXTURES = Path(__file__).parents[1] / "project" / "fixtures"

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[str]:
    with moto_server(tmp_path / "moto.log") as url:
        yield url


def _project(tmp_path: Path, name: str) -> Path:
    """A copy of the fixture in a folder of its own name (the stack's name)."""
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    return folder


def _on_moto(moto: str) -> tuple[str, ...]:
    """The flags that give a project moto's DynamoDB, with its tables created there."""
    return ("--endpoint", f"dynamodb={moto}", "--create-resources")


async def _connect(url: str, **headers: str) -> ClientConnection:
    return await websockets.connect(url, additional_headers=headers)


async def _recv(connection: Any, timeout: float = 20) -> Any:
    async with asyncio.timeout(timeout):
        return json.loads(await connection.recv())


def _items(client: Any, table: str) -> list[dict[str, Any]]:
    return [
        {key: next(iter(value.values())) for key, value in item.items()}
        for item in client.scan(TableName=table)["Items"]
    ]


async def test_sam_project_with_authorizer_tables_and_a_function_on_no_route(
    tmp_path: Path, moto: str
) -> None:
    folder = _project(tmp_path, "sam-notify")
    db = dynamodb(moto)
    async with serve_project(folder, *_on_moto(moto)) as served:
        assert "created table ConnectionsTable" in served.text()
        assert "created table sam-notify-audit" in served.text()
        # The template's keys and indexes, as written.
        connections = db.describe_table(TableName="ConnectionsTable")["Table"]
        assert connections["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert [i["IndexName"] for i in connections["GlobalSecondaryIndexes"]] == ["byUser"]
        audit = db.describe_table(TableName="sam-notify-audit")["Table"]
        assert audit["KeySchema"] == [
            {"AttributeName": "user", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ]
        assert [i["IndexName"] for i in audit["LocalSecondaryIndexes"]] == ["byTime"]
        assert audit["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
        assert audit["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"

        # The CUSTOM authorizer reads the Authorization header.
        assert await refused(served.url()) == 401
        assert await refused(served.url(), Authorization="Bearer mallory") == 403

        alice = await _connect(served.url(), Authorization="Bearer alice")
        bob = await _connect(served.url(), Authorization="Bearer bob")
        async with alice, bob:
            users = sorted(item["user"] for item in _items(db, "ConnectionsTable"))
            assert users == ["alice", "bob"]
            # Two-way: the sender gets the count; the other client the message, posted
            # through the management endpoint the template builds with !Sub.
            await alice.send(json.dumps({"action": "sendmessage", "data": "hello"}))
            assert await _recv(alice) == {"sent": 1}
            assert await _recv(bob) == {"from": "alice", "text": "hello"}

            # $connect invoked the audit function (on no route) by ARN with Event.
            await wait_for(lambda: len(_items(db, "sam-notify-audit")) == 2, timeout=30)
            trail = _items(db, "sam-notify-audit")
            assert sorted(item["user"] for item in trail) == ["alice", "bob"]
            assert {item["function"] for item in trail} == {"sam-notify-audit-writer"}
            # !GetAtt AuditTable.StreamArn is the created table's stream.
            assert {item["stream"] for item in trail} == {audit["LatestStreamArn"]}
        await wait_for(lambda: _items(db, "ConnectionsTable") == [], timeout=30)

    # Started again on the same DynamoDB: the tables are left as they are, data kept.
    async with serve_project(folder, *_on_moto(moto)) as served:
        assert "table ConnectionsTable exists: left as it is" in served.text()
        assert len(_items(db, "sam-notify-audit")) == 2


async def test_serverless_project_one_function_on_five_routes(tmp_path: Path, moto: str) -> None:
    folder = _project(tmp_path, "sls-router")
    db = dynamodb(moto)
    table = "sls-router-dev-connections"
    async with serve_project(folder, *_on_moto(moto)) as served:
        assert db.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires",
        }
        assert await refused(served.url()) == 401
        assert await refused(served.url("token=wrong")) == 403

        alice = await _connect(served.url("token=secret-alice"))
        bob = await _connect(served.url("token=secret-bob"))
        async with alice, bob:
            assert sorted(item["user"] for item in _items(db, table)) == ["alice", "bob"]
            await alice.send(json.dumps({"action": "whoami"}))
            assert await _recv(alice) == {
                "user": "alice",
                "mode": "provider-wide",
                "router": "router-of-dev",
                "table": table,
                "tableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
                "function": "sls-router-dev-router",
            }
            await alice.send(json.dumps({"action": "broadcast", "data": "hi all"}))
            assert await _recv(bob) == {"broadcast": "hi all"}
            await bob.send(json.dumps({"action": "dance"}))
            reply = await _recv(bob)
            assert reply["error"] == "no action '$default'"
            # The broadcast went to the others only.
            await alice.send(json.dumps({"action": "whoami"}))
            assert (await _recv(alice))["user"] == "alice"
        await wait_for(lambda: _items(db, table) == [], timeout=30)


async def test_a_wsgate_yaml_importing_the_project_gives_the_endpoint(
    tmp_path: Path, moto: str
) -> None:
    """aws.endpoints beside import: points every function at the local DynamoDB and is
    where --create-resources creates the tables; the serverless.yml is left unchanged."""
    folder = _project(tmp_path, "sls-router")
    (folder / "wsgate.yaml").write_text(
        f"import: serverless.yml\naws:\n  endpoints:\n    dynamodb: {moto}\n"
    )
    db = dynamodb(moto)
    async with serve_project(folder, "--create-resources") as served:
        assert "created table sls-router-dev-connections" in served.text()
        async with websockets.connect(served.url("token=secret-carol")) as carol:
            assert _items(db, "sls-router-dev-connections")[0]["user"] == "carol"
            await carol.send(json.dumps({"action": "whoami"}))
            assert (await _recv(carol))["user"] == "carol"
    assert (folder / "serverless.yml").read_text() == (
        FIXTURES / "sls-router" / "serverless.yml"
    ).read_text()


async def test_cloudformation_project_with_node_functions(tmp_path: Path, moto: str) -> None:
    folder = _project(tmp_path, "cfn-node")
    db = dynamodb(moto)
    table = "cfn-node-live-connections"
    async with serve_project(folder, *_on_moto(moto)) as served:
        assert served.stage == "live"
        assert await refused(served.url()) == 401
        assert await refused(served.url(), **{"X-Token": "guess:eve"}) == 403
        ann = await _connect(served.url(), **{"X-Token": "let-me-in:ann"})
        ben = await _connect(served.url(), **{"X-Token": "let-me-in:ben"})
        async with ann, ben:
            assert sorted(item["name"] for item in _items(db, table)) == ["ann", "ben"]
            await ben.send(json.dumps({"type": "count"}))
            assert await _recv(ben) == {"count": 2, "names": ["ann", "ben"]}
            await ann.send(json.dumps({"type": "chat", "text": "from node"}))
            assert await _recv(ben) == {"from": "ann", "text": "from node"}
        await wait_for(lambda: _items(db, table) == [], timeout=30)


_WSGATE_YAML = """
api: {{name: endpoints, stage: dev}}
server: {{host: 127.0.0.1, port: 0}}
handlers: {{path: .}}
aws:
  endpoints:
    dynamodb: {moto}
functions:
  worker:
    runtime: python3.12
    code: .
    handler: store.in_worker
routes:
  inprocess: store:in_process
  worker: {{function: worker}}
"""

_STORE = """
import os

import boto3


def _put(where):
    # No endpoint_url in the code: AWS_ENDPOINT_URL_DYNAMODB leads to the local DynamoDB.
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("items")
    table.put_item(Item={"id": where, "endpoint": os.environ["AWS_ENDPOINT_URL_DYNAMODB"]})


def in_process(event, context):
    _put("in-process")
    return {"statusCode": 200}


def in_worker(event, context):
    _put("worker")
    return {"statusCode": 200}
"""


async def test_wsgate_yaml_endpoints_reach_in_process_handlers_and_workers(
    tmp_path: Path, moto: str
) -> None:
    """aws.endpoints in a wsgate.yaml: boto3 with no endpoint_url in the code reaches the
    local DynamoDB, from a handler in the gateway's process and from a worker."""
    db = dynamodb(moto)
    db.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    (tmp_path / "wsgate.yaml").write_text(_WSGATE_YAML.format(moto=moto))
    (tmp_path / "store.py").write_text(_STORE)
    async with serve_project(tmp_path) as served, websockets.connect(served.url()) as client:
        await client.send(json.dumps({"action": "inprocess"}))
        await client.send(json.dumps({"action": "worker"}))
        await wait_for(lambda: len(_items(db, "items")) == 2, timeout=30)
    assert sorted(_items(db, "items"), key=lambda item: item["id"]) == [
        {"id": "in-process", "endpoint": moto},
        {"id": "worker", "endpoint": moto},
    ]

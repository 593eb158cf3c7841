"""Handlers that answer through boto3's management client, as AWS samples do.

``call`` and ``call_async`` run the management operation a message describes and reply
with what boto3 returned or raised, so tests can see it from the client's side:

    {"action": "call", "op": "get_connection", "args": {"ConnectionId": "..."},
     "stage": "prod", "size": 131073}

``args.ConnectionId`` defaults to the caller's own id; ``size`` sends that many bytes as
``Data``; ``stage`` replaces the stage in the endpoint URL.
"""

from __future__ import annotations

import datetime
from typing import Any

import boto3
import orjson
from botocore.exceptions import ClientError


def _client(event: dict[str, Any], stage: str | None = None) -> Any:
    """The client exactly as AWS's samples build it, from domainName and stage."""
    ctx = event["requestContext"]
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://{ctx['domainName']}/{stage or ctx['stage']}",
    )


def describe(value: Any) -> Any:
    """A JSON view of a boto3 result that keeps datetimes recognisable."""
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dict):
        return {key: describe(item) for key, item in value.items() if key != "ResponseMetadata"}
    return value


def _outcome(event: dict[str, Any]) -> dict[str, Any]:
    """Run the operation the message asks for; describe its result or its error."""
    request = orjson.loads(event["body"])
    args = {"ConnectionId": event["requestContext"]["connectionId"], **request.get("args", {})}
    if "size" in request:
        args["Data"] = b"z" * request["size"]
    client = _client(event, request.get("stage"))
    try:
        result = getattr(client, request["op"])(**args)
    except ClientError as error:
        return {
            "error": type(error).__name__,
            "is_modeled": isinstance(error, getattr(client.exceptions, type(error).__name__)),
            "code": error.response["Error"]["Code"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return {"status": result["ResponseMetadata"]["HTTPStatusCode"], "result": describe(result)}


def call(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A plain ``def`` handler: it runs in a handler thread."""
    return {"statusCode": 200, "body": orjson.dumps(_outcome(event)).decode()}


async def call_async(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An ``async def`` handler calling the synchronous boto3, on the event loop itself."""
    try:
        outcome = _outcome(event)
    except RuntimeError as error:
        outcome = {"runtime_error": str(error)}
    return {"statusCode": 200, "body": orjson.dumps(outcome).decode()}


def relay(event: dict[str, Any], context: Any) -> None:
    """Posts to its own connection, then to the one named in the message, if any."""
    client = _client(event)
    me = event["requestContext"]["connectionId"]
    client.post_to_connection(ConnectionId=me, Data=b"to-self")
    target = orjson.loads(event["body"]).get("to")
    if target is not None:
        client.post_to_connection(ConnectionId=target, Data=f"from:{me}".encode())


def burst(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Posts ``count`` numbered messages to its own connection, then answers "done"."""
    client = _client(event)
    me = event["requestContext"]["connectionId"]
    for number in range(orjson.loads(event["body"])["count"]):
        client.post_to_connection(ConnectionId=me, Data=str(number).encode())
    return {"statusCode": 200, "body": "done"}

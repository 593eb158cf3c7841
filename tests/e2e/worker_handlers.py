"""Handlers of ``wsgate serve --workers`` tests: each says which process ran it.

``$connect`` and ``$disconnect`` append a line (route, connectionId, pid) to the file
named by ``WORKERS_EVENTS``; ``whoami`` answers the process's pid and the connectionId;
``postback`` posts back to its sender over https.
"""

from __future__ import annotations

import os
from typing import Any

import orjson


def _note(event: dict[str, Any]) -> None:
    context = event["requestContext"]
    line = {"route": context["routeKey"], "cid": context["connectionId"], "pid": os.getpid()}
    # One write of one line in append mode: lines of several processes never interleave.
    with open(os.environ["WORKERS_EVENTS"], "ab") as events:
        events.write(orjson.dumps(line) + b"\n")


async def connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _note(event)
    return {"statusCode": 200}


async def disconnect(event: dict[str, Any], context: Any) -> None:
    _note(event)


async def whoami(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = {"pid": os.getpid(), "cid": event["requestContext"]["connectionId"]}
    return {"statusCode": 200, "body": orjson.dumps(body).decode()}


def postback(event: dict[str, Any], context: Any) -> None:
    """Post the message's ``data`` back to its sender through ``https://{domainName}/
    {stage}``, with a client of its own: a new TCP connection, which any worker may take."""
    import boto3

    request = event["requestContext"]
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://{request['domainName']}/{request['stage']}",
        region_name="us-east-1",
    )
    data = orjson.loads(event["body"])["data"]
    client.post_to_connection(ConnectionId=request["connectionId"], Data=data.encode())

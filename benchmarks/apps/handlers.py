"""The handlers the benchmarks run: plain Lambda handlers, as a user would write them.

wsgate imports them from ``benchmarks/configs/*.yaml``; serverless-offline runs the very
same file for the comparison (only the ``def`` handlers: it cannot await coroutines).
"""

import asyncio
import os
import threading
from urllib.parse import quote


# connectionIds known to this process, as a real app would keep them in DynamoDB.
CONNECTIONS = set()
TOKEN = "bench"

_session = None
_management = {}
_management_lock = threading.Lock()


def _allow(event, principal):
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"user": principal},
    }


# --- async handlers: awaited on wsgate's event loop -------------------------------------


async def echo(event, context):
    """Two-way route: the message goes back to the sender."""
    return {"statusCode": 200, "body": event["body"]}


async def authorize(event, context):
    """REQUEST authorizer: the query string's token must match."""
    params = event.get("queryStringParameters") or {}
    if params.get("token") != TOKEN:
        raise Exception("Unauthorized")
    return _allow(event, params.get("user", "bench"))


async def connect(event, context):
    """$connect that accepts."""
    return {"statusCode": 200}


async def register(event, context):
    """$connect that remembers the connection for the fan-out."""
    CONNECTIONS.add(event["requestContext"]["connectionId"])
    return {"statusCode": 200}


async def unregister(event, context):
    """$disconnect that forgets it."""
    CONNECTIONS.discard(event["requestContext"]["connectionId"])
    return {"statusCode": 200}


async def whoami(event, context):
    """Two-way route answering with the sender's connectionId."""
    return {"statusCode": 200, "body": event["requestContext"]["connectionId"]}


async def fanout(event, context):
    """Post the message to every known connection through the management API.

    An aiohttp session with keep-alive connections and 64 posts in flight: the fastest way
    a handler can reach many connections over the management API.
    """
    global _session
    import aiohttp

    if _session is None or _session.closed:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    base = os.environ["BENCH_MANAGEMENT_URL"]
    data = event["body"].encode()
    targets = iter(list(CONNECTIONS))

    async def worker():
        for connection_id in targets:
            url = f"{base}/@connections/{quote(connection_id, safe='')}"
            async with _session.post(url, data=data) as response:
                await response.read()

    await asyncio.gather(*(worker() for _ in range(64)))
    return {"statusCode": 200}


# --- def handlers: wsgate runs them in its thread pool; serverless-offline runs these ----


def echo_sync(event, context):
    """Two-way route: the message goes back to the sender."""
    return {"statusCode": 200, "body": event["body"]}


def authorize_sync(event, context):
    """REQUEST authorizer: the query string's token must match."""
    params = event.get("queryStringParameters") or {}
    if params.get("token") != TOKEN:
        raise Exception("Unauthorized")
    return _allow(event, params.get("user", "bench"))


def connect_sync(event, context):
    """$connect that accepts."""
    return {"statusCode": 200}


def post_back(event, context):
    """Answer through the management API with boto3, as most AWS samples do."""
    import boto3

    endpoint = os.environ["BENCH_MANAGEMENT_URL"]
    client = _management.get(endpoint)
    if client is None:
        # One client for all threads: without the lock the first burst of calls built one
        # client per thread, each loading botocore's models (tens of MB, never returned).
        with _management_lock:
            client = _management.get(endpoint)
            if client is None:
                client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
                _management[endpoint] = client
    try:
        client.post_to_connection(
            ConnectionId=event["requestContext"]["connectionId"], Data=event["body"].encode()
        )
    except client.exceptions.ClientError as error:
        # 410: the client left while its message was handled (the load generator closes
        # its connections at the end of each run); AWS's samples let it pass. Raising
        # would end serverless-offline's Python runner, whose next calls would then wait
        # out the Lambda timeout. serverless-offline answers a bare 410, which botocore
        # names "410" rather than GoneException, so the status is what is checked.
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 410:
            raise
    return {"statusCode": 200}

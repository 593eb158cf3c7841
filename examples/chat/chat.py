"""The chat's Lambda handlers, unchanged from what would run on AWS.

On AWS the connection list would live in DynamoDB; here a set in the process stands in, so
the example needs nothing but wsgate.
"""

import json
import threading

import boto3


_connections = set()
_lock = threading.Lock()
_clients = {}


def _management(event):
    """The management API client, built from the event as AWS's samples do."""
    ctx = event["requestContext"]
    endpoint = f"https://{ctx['domainName']}/{ctx['stage']}"
    if endpoint not in _clients:
        _clients[endpoint] = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    return _clients[endpoint]


def connect(event, context):
    with _lock:
        _connections.add(event["requestContext"]["connectionId"])
    return {"statusCode": 200}


def disconnect(event, context):
    with _lock:
        _connections.discard(event["requestContext"]["connectionId"])
    return {"statusCode": 200}


def send_message(event, context):
    """Broadcast {"action": "sendmessage", "message": ...} to every connection."""
    ctx = event["requestContext"]
    text = json.loads(event["body"]).get("message", "")
    data = json.dumps({"from": ctx["authorizer"]["name"], "message": text}).encode()
    client = _management(event)
    with _lock:
        targets = list(_connections)
    for connection_id in targets:
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            with _lock:
                _connections.discard(connection_id)
    return {"statusCode": 200}


async def echo(event, context):
    """A two-way route: the body of the return value goes back to the sender."""
    return {"statusCode": 200, "body": event["body"]}


async def default(event, context):
    return {
        "statusCode": 200,
        "body": 'Unknown action. Try {"action": "sendmessage", "message": "hi"} '
        'or {"action": "echo", "text": "hi"}',
    }

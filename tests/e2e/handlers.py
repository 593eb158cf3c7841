"""Handlers the end-to-end tests configure; every event they get is recorded in EVENTS."""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import time
from typing import Any

import boto3
import orjson


EVENTS: list[dict[str, Any]] = []
_lock = threading.Lock()


def record(event: dict[str, Any]) -> None:
    with _lock:
        EVENTS.append(copy.deepcopy(event))


def events_for(route_key: str) -> list[dict[str, Any]]:
    """The integration events of ``route_key`` (authorizer events excluded)."""
    with _lock:
        return [
            e
            for e in EVENTS
            if "type" not in e and e.get("requestContext", {}).get("routeKey") == route_key
        ]


def _policy(event: dict[str, Any], effect: str, resource: object) -> dict[str, Any]:
    return {
        "principalId": "user-123",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"tenant": "acme", "level": 3, "admin": True},
    }


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Behaves according to the ``token`` query parameter or ``Auth`` header."""
    record(event)
    query = event.get("queryStringParameters") or {}
    headers = {name.lower(): value for name, value in event["headers"].items()}
    token = query.get("token") or headers.get("auth", "")
    arn = event["methodArn"]
    if token == "allow":
        return _policy(event, "Allow", arn)
    if token == "wildcard":
        return _policy(event, "Allow", "arn:aws:execute-api:*:*:*/dev/$conn?ct")
    if token == "rest-style":
        return _policy(event, "Allow", arn.rsplit("/", 1)[0] + "/*/*")
    if token == "deny":
        return _policy(event, "Deny", arn)
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise RuntimeError("authorizer crashed")
    if token == "malformed":
        return {"statusCode": 401}
    if token == "nested":
        policy = _policy(event, "Allow", arn)
        policy["context"] = {"bad": {"nested": 1}}
        return policy
    return _policy(event, "Deny", arn)


def connect(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """Accepts unless the ``status``/``raise``/``proto`` query parameters say otherwise."""
    record(event)
    query = event.get("queryStringParameters") or {}
    if "raise" in query:
        raise RuntimeError("connect failed")
    if "status" in query:
        return {"statusCode": int(query["status"]), "body": "refused", "headers": {"X-No": "1"}}
    if "proto" in query:
        return {
            "statusCode": 200,
            "headers": {"Sec-WebSocket-Protocol": query["proto"], "X-Other": "not sent"},
        }
    if "none" in query:
        return None
    if "post-self" in query:
        # A connection does not exist during $connect: AWS answers 410 GoneException.
        client = management_client(event)
        try:
            client.post_to_connection(
                ConnectionId=event["requestContext"]["connectionId"], Data=b"early"
            )
        except client.exceptions.GoneException:
            return {"statusCode": 200, "body": "gone as expected"}
        return {"statusCode": 500}
    return {"statusCode": 200}


async def disconnect(event: dict[str, Any], context: Any) -> None:
    record(event)


async def default(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    return {"statusCode": 200, "body": "default:" + event["body"]}


async def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    return {"statusCode": 200, "body": event["body"]}


def sync_echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    return {"statusCode": 200, "body": "sync:" + event["body"]}


async def one_way(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    return {"statusCode": 200, "body": "must not be sent"}


async def plain_string(event: dict[str, Any], context: Any) -> str:
    return "plain reply"


async def boom(event: dict[str, Any], context: Any) -> None:
    raise ValueError("handler bug")


async def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.sleep(30)
    return {"statusCode": 200, "body": "too late"}


def blocking(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler that blocks its thread, as a boto3 or database call would."""
    time.sleep(1.0)
    return {"statusCode": 200, "body": "blocked"}


def context_info(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis()
    body = {
        "function_name": context.function_name,
        "aws_request_id": context.aws_request_id,
        "request_id": event["requestContext"]["requestId"],
        "remaining": remaining,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "version": context.function_version,
        "env": os.environ.get("WSGATE_TEST_ENV"),
    }
    return {"statusCode": 200, "body": orjson.dumps(body).decode()}


def management_client(event: dict[str, Any]) -> Any:
    """The client exactly as AWS's samples build it, from domainName and stage."""
    ctx = event["requestContext"]
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=f"https://{ctx['domainName']}/{ctx['stage']}"
    )


def post_self(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Posts to its own connection through the management API, then gets its info."""
    client = management_client(event)
    connection_id = event["requestContext"]["connectionId"]
    client.post_to_connection(ConnectionId=connection_id, Data=b"posted:" + event["body"].encode())
    info = client.get_connection(ConnectionId=connection_id)
    return {"statusCode": 200, "body": "source:" + info["Identity"]["SourceIp"]}


def delete_self(event: dict[str, Any], context: Any) -> None:
    client = management_client(event)
    client.delete_connection(ConnectionId=event["requestContext"]["connectionId"])


async def slow_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    await asyncio.sleep(0.3)
    return {"statusCode": 200}


async def _times_out_in_its_task(delay: float) -> bool:
    """Time out a wait with asyncio.timeout(``delay``), which cancels the task it runs
    in; whether the code after it still runs in the task it began in."""
    started_in = asyncio.current_task()
    try:
        async with asyncio.timeout(delay):
            await asyncio.sleep(5)
    except TimeoutError:
        pass
    return asyncio.current_task() is started_in


async def own_timeout(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Times out an inner wait with asyncio.timeout, which cancels the task it started in."""
    same = await _times_out_in_its_task(0.05)
    return {"statusCode": 200, "body": f"timed out inside, same task: {same}"}


async def zero_timeout(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An asyncio.timeout already due: its cancellation comes before anything else runs."""
    same = await _times_out_in_its_task(0)
    return {"statusCode": 200, "body": f"timed out at once, same task: {same}"}


async def _fail_now() -> None:
    raise ValueError("child failed")


async def failing_group(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A TaskGroup whose child fails at its first step: the group cancels the task it was
    entered in before that task ran again."""
    started_in = asyncio.current_task()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_fail_now())
            await asyncio.sleep(5)
    except* ValueError as failed:
        names = [type(error).__name__ for error in failed.exceptions]
    same = asyncio.current_task() is started_in
    return {"statusCode": 200, "body": f"group failed: {names}, same task: {same}"}


HELD: dict[str, asyncio.Event] = {}
"""Events that ``held`` handlers wait on, by the message body's ``key``; tests set them."""


async def held(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Waits until the test sets ``HELD[key]``, then answers with the key."""
    record(event)
    key = orjson.loads(str(event["body"]))["key"]
    await HELD.setdefault(key, asyncio.Event()).wait()
    return {"statusCode": 200, "body": f"released {key}"}


async def async_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``authorizer`` as an ``async def``: the authorizer and $connect take separate trips."""
    return authorizer(event, context)


THREADS: list[tuple[str, int]] = []
"""(handler, thread ident) for each call of the ``*_thread`` handlers."""

GATE = threading.Event()
"""What ``gated_*`` handlers block on until the test sets it."""


def authorizer_thread(event: dict[str, Any], context: Any) -> dict[str, Any]:
    THREADS.append(("authorizer", threading.get_ident()))
    return authorizer(event, context)


def connect_thread(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    THREADS.append(("$connect", threading.get_ident()))
    return connect(event, context)


def gated_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Blocks its thread until GATE is set (or 10 s pass), then allows."""
    record(event)
    GATE.wait(10)
    return _policy(event, "Allow", event["methodArn"])


def gated_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Blocks its thread until GATE is set (or 10 s pass), then accepts."""
    record(event)
    GATE.wait(10)
    return {"statusCode": 200}


def exits(event: dict[str, Any], context: Any) -> None:
    """Ends the process, as a public sample does after a failed post_to_connection."""
    record(event)
    raise SystemExit(1)


async def async_exits(event: dict[str, Any], context: Any) -> None:
    record(event)
    if orjson.loads(event["body"]).get("wait"):
        await asyncio.sleep(0.01)
    raise SystemExit(1)


def interrupts(event: dict[str, Any], context: Any) -> None:
    record(event)
    raise KeyboardInterrupt


async def sized(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A reply of as many bytes as the message asks for."""
    size = orjson.loads(event["body"])["size"]
    return {"statusCode": 200, "body": "é" * (size // 2) + "x" * (size % 2)}


def gated_message(event: dict[str, Any], context: Any) -> None:
    """A slow message handler: blocks its thread until GATE is set (or 10 s pass)."""
    record(event)
    GATE.wait(10)


def sync_echo_thread(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``echo`` as a plain ``def``: it needs a free handler thread."""
    record(event)
    return {"statusCode": 200, "body": event["body"]}


def disconnect_thread(event: dict[str, Any], context: Any) -> None:
    """``disconnect`` as a plain ``def``."""
    record(event)


async def blocks_the_loop(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An async handler making a blocking call, before and after an await."""
    time.sleep(0.15)
    await asyncio.sleep(0)
    time.sleep(0.15)
    return {"statusCode": 200, "body": "done"}

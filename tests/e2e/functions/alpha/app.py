"""A function run in worker processes (tests/e2e/test_workers.py): one module, many routes.

Every invocation is appended to the file named by RECORD, so that the test can see what
ran where. The action of a message says what to do: answer, crash, exit, sleep or hang.
"""

import ctypes
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request


def _record(event, context, **extra):
    ctx = event["requestContext"]
    line = {
        "routeKey": ctx["routeKey"],
        "connectionId": ctx["connectionId"],
        "pid": os.getpid(),
        "requestId": context.aws_request_id,
        **extra,
    }
    with open(os.environ["RECORD"], "a") as record:
        record.write(json.dumps(line) + "\n")


def _authorize(event):
    """A REQUEST authorizer: the token ``letmein`` is allowed, anything else is not."""
    token = (event.get("queryStringParameters") or {}).get("token")
    if token != "letmein":
        raise Exception("Unauthorized")
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    return {
        "principalId": "ann",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": {"checkedBy": os.environ["AWS_LAMBDA_FUNCTION_NAME"]},
    }


def lambda_handler(event, context):
    if event.get("type") == "REQUEST":
        return _authorize(event)
    route = event["requestContext"]["routeKey"]
    _record(event, context)
    if route == "$connect":
        query = event.get("queryStringParameters") or {}
        if query.get("fail") == "exit":
            sys.exit(1)
        if query.get("fail") == "raise":
            raise RuntimeError("refused by alpha")
        if query.get("fail") == "sleep":
            time.sleep(30)
        return {"statusCode": 200}
    if route == "$disconnect":
        return {"statusCode": 200}
    body = json.loads(event["body"])
    action = body.get("action")
    print(f"alpha handling {action}")
    if action == "whoami":
        return {
            "statusCode": 200,
            "body": json.dumps(
                {
                    "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                    "greeting": os.environ.get("GREETING"),
                    "other": os.environ.get("BETA_ONLY"),
                    "module": __file__,
                    "pid": os.getpid(),
                    "cwd": os.getcwd(),
                    "remaining": context.get_remaining_time_in_millis(),
                    "memory": context.memory_limit_in_mb,
                    "arn": context.invoked_function_arn,
                    "env": sorted(os.environ),
                    "authorizer": event["requestContext"].get("authorizer"),
                }
            ),
        }
    if action == "exit":
        sys.exit(1)
    if action == "segfault":
        ctypes.string_at(0)
    if action == "raise":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(float(body.get("seconds", 30)))
        return {"statusCode": 200, "body": f"slept {os.getpid()}"}
    if action == "meddle":
        # Answer someone else's invocation through this worker's own Runtime API.
        url = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
        request = urllib.request.Request(
            f"{url}/invocation/{body['id']}/response", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            status, text = refused.code, refused.read().decode()
        return {"statusCode": 200, "body": json.dumps({"status": status, "body": text})}
    if action == "ignore_sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return {"statusCode": 200, "body": f"ignoring {os.getpid()}"}
    if action == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)
    return {"statusCode": 200, "body": f"alpha got {action}"}

"""Invoked by other functions (tests/e2e/test_invoke.py): appends each event to RECORD.

With a client context (a synchronous Invoke's ``ClientContext``), the answer and the record
carry what ``context.client_context`` holds.
"""

import json
import os


def _client_context(context):
    found = context.client_context
    if found is None:
        return None
    client = found.client
    return {
        "custom": found.custom,
        "env": found.env,
        "client": None if client is None else {"app_title": client.app_title},
    }


def lambda_handler(event, context):
    line = {"event": event, "function": context.function_name}
    client_context = _client_context(context)
    if client_context is not None:
        line["clientContext"] = client_context
    with open(os.environ["RECORD"], "a") as record:
        record.write(json.dumps(line) + "\n")
    print(f"target got {json.dumps(event)}")
    if isinstance(event, dict) and event.get("raise"):
        raise ValueError("target refused")
    answer = {"echo": event, "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"]}
    if client_context is not None:
        answer["clientContext"] = client_context
    return answer

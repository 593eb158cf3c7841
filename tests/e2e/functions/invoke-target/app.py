"""Invoked by other functions (tests/e2e/test_invoke.py): appends each event to RECORD."""

import json
import os


def lambda_handler(event, context):
    with open(os.environ["RECORD"], "a") as record:
        record.write(json.dumps({"event": event, "function": context.function_name}) + "\n")
    print(f"target got {json.dumps(event)}")
    if isinstance(event, dict) and event.get("raise"):
        raise ValueError("target refused")
    return {"echo": event, "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"]}

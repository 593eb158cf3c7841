"""An in-process handler whose Lambda client is made when its module is imported, as
public samples make it (tests/e2e/test_invoke.py)."""

import json

import boto3


# Made at import, before the gateway serves: its endpoint is read from the environment now.
CLIENT = boto3.client("lambda")


def invoke(event, context):
    body = json.loads(event["body"])
    answer = CLIENT.invoke(FunctionName=body["function"], Payload=json.dumps(body["payload"]))
    return {"statusCode": 200, "body": answer["Payload"].read().decode()}

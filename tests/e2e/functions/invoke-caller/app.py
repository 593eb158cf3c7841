"""Invokes other functions of the API with an unchanged boto3 client (tests/e2e/test_invoke.py).

The message's ``action`` says how; the answer's body is what boto3 returned or raised.
"""

import base64
import json

import boto3
import botocore.exceptions


def _call(**kwargs):
    client = boto3.client("lambda")
    try:
        answer = client.invoke(**kwargs)
    except botocore.exceptions.ClientError as error:
        return {
            "raised": type(error).__name__,
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    body = answer["Payload"].read()
    return {
        "status": answer["StatusCode"],
        "functionError": answer.get("FunctionError"),
        "version": answer.get("ExecutedVersion"),
        "log": base64.b64decode(answer["LogResult"]).decode() if "LogResult" in answer else None,
        "payload": json.loads(body) if body else None,
    }


def lambda_handler(event, context):
    if event["requestContext"]["routeKey"] != "$default":
        return {"statusCode": 200}
    body = json.loads(event["body"])
    kwargs = {"FunctionName": body["function"]}
    if "payload" in body:
        kwargs["Payload"] = json.dumps(body["payload"]).encode()
    if "type" in body:
        kwargs["InvocationType"] = body["type"]
    if body.get("tail"):
        kwargs["LogType"] = "Tail"
    if "clientContext" in body:
        kwargs["ClientContext"] = base64.b64encode(
            json.dumps(body["clientContext"]).encode()
        ).decode()
    return {"statusCode": 200, "body": json.dumps(_call(**kwargs))}

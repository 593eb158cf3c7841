"""An in-process handler invoking a worker function with an unchanged boto3 client."""

import json

import boto3


def invoke(event, context):
    body = json.loads(event["body"])
    client = boto3.client("lambda")
    answer = client.invoke(FunctionName=body["function"], Payload=json.dumps(body["payload"]))
    return {"statusCode": 200, "body": answer["Payload"].read().decode()}

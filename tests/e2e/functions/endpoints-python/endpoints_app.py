"""Management calls as an unchanged AWS function makes them (tests/e2e/test_worker_endpoints.py).

The endpoint is built from the event, in the form the message names: ``domain``
(``https://{domainName}/{stage}``) or ``execute-api`` (``https://{apiId}.execute-api.
{region}.amazonaws.com/{stage}``, as frameworks build it). The same module is a function
(``endpoints_app.lambda_handler``) and an in-process handler (``endpoints_app:lambda_handler``
with this folder as ``handlers.path``).
"""

import json
import os
import ssl
import urllib.request

import boto3


def endpoint(event, form):
    ctx = event["requestContext"]
    if form == "execute-api":
        region = os.environ.get("AWS_REGION", "us-east-1")
        return f"https://{ctx['apiId']}.execute-api.{region}.amazonaws.com/{ctx['stage']}"
    return f"https://{ctx['domainName']}/{ctx['stage']}"


def lambda_handler(event, context):
    ctx = event["requestContext"]
    if ctx["routeKey"] in ("$connect", "$disconnect"):
        return {"statusCode": 200}
    body = json.loads(event["body"])
    if body.get("whoami"):
        return {"statusCode": 200, "body": ctx["connectionId"]}
    url = endpoint(event, body["form"])
    client = boto3.client("apigatewaymanagementapi", endpoint_url=url)
    me = ctx["connectionId"]
    client.post_to_connection(ConnectionId=me, Data=f"posted via {url}".encode())
    identity = client.get_connection(ConnectionId=me)["Identity"]
    if body.get("victim"):
        client.delete_connection(ConnectionId=body["victim"])
    other = None
    if body.get("other"):
        # Any other https host is called where it is: here a local server of the test's.
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(body["other"], context=unverified, timeout=5) as answer:
            other = answer.read().decode()
    return {
        "statusCode": 200,
        "body": json.dumps({"url": url, "sourceIp": identity["SourceIp"], "other": other}),
    }

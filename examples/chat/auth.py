"""A token authorizer written exactly as a Lambda REQUEST authorizer would be."""

import os


def handler(event, context):
    params = event.get("queryStringParameters") or {}
    if params.get("token") != os.environ["CHAT_TOKEN"]:
        # AWS answers 401 for exactly this message.
        raise Exception("Unauthorized")
    name = params.get("name", "guest")
    return {
        "principalId": name,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"name": name},
    }

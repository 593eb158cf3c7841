"""The two-way route's echo as a Lambda function in a Python worker process
(``benchmarks/configs/functions-python.yaml``): the same answer as ``handlers.echo_sync``."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The message goes back to the sender."""
    return {"statusCode": 200, "body": event["body"]}

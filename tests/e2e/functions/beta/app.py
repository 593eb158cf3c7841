"""A second function with a module of the same name as alpha's (tests/e2e/test_workers.py)."""

import json
import os


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                "greeting": os.environ.get("GREETING"),
                "other": os.environ.get("BETA_ONLY"),
                "module": __file__,
                "pid": os.getpid(),
            }
        ),
    }

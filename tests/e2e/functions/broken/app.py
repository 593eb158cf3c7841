"""A function whose import fails as its environment says (tests/e2e/test_workers.py)."""

import os
import sys
import time


how = os.environ.get("BREAK")
if how == "raise":
    raise RuntimeError("cannot start: no database")
if how == "exit":
    sys.exit(3)
if how == "hang":
    time.sleep(60)


def lambda_handler(event, context):
    return {"statusCode": 200, "body": "not broken"}

"""A handler module as public samples write them: its boto3 client is made at import."""

from __future__ import annotations

import os
from typing import Any

import boto3


# Made when the module is imported, before any connection: its credentials are resolved
# now, so they must already be there.
CLIENT = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["IMPORT_TIME_ENDPOINT"])


def post_back(event: dict[str, Any], context: Any) -> None:
    connection_id = event["requestContext"]["connectionId"]
    CLIENT.post_to_connection(ConnectionId=connection_id, Data=b"posted by a module client")

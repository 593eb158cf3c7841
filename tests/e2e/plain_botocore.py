"""A management client that is botocore's alone: neither wsgate's in-process answer nor
its client class's shortcuts, so its calls go over HTTP exactly as to a remote endpoint."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session

from wsgate.server.inprocess.hook import EVENT, before_call
from wsgate.server.inprocess.shortcut import CLASS_EVENT, add_shortcuts


def http_only_client(**kwargs: Any) -> Any:
    """``boto3.client("apigatewaymanagementapi", **kwargs)`` from a session without
    wsgate's two botocore handlers."""
    session = botocore.session.get_session()
    session.unregister(EVENT, before_call)
    session.unregister(CLASS_EVENT, add_shortcuts)
    return boto3.session.Session(botocore_session=session).client(
        "apigatewaymanagementapi", **kwargs
    )

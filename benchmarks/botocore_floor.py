"""What a boto3 ``post_to_connection`` costs botocore itself, with no server at all.

``python -m benchmarks.botocore_floor [--calls N]`` prints one JSON line:
``{"calls": N, "us_per_call": ..., "calls_per_s": ...}``.

A ``before-call`` handler answers every call with a canned 200 (as botocore's Stubber
does), so what is timed is only the client's own work: parameter validation, endpoint
resolution, serialisation, the user agent, the event hooks. No gateway can answer a
boto3 caller faster than this; the comparison runs it on the server's core and reports
it beside the boto3 round trips.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any


__all__ = ["main", "measure"]

_EVENT = "before-call.apigatewaymanagementapi.PostToConnection"


class _EmptyBody:
    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        return iter((b"",))


def measure(calls: int) -> float:
    """Seconds per ``post_to_connection`` of a 100-byte message, answered without I/O."""
    import boto3
    from botocore.awsrequest import AWSResponse

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="http://127.0.0.1:9/bench",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )

    def canned(params: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        http = AWSResponse(params["url"], 200, {"Content-Length": "0"}, _EmptyBody())
        metadata = {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}
        return http, {"ResponseMetadata": metadata}

    client.meta.events.register(_EVENT, canned)
    data = b"x" * 100
    for _ in range(min(calls, 200)):  # warm-up: caches, first-call imports
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=data)
    start = time.perf_counter()
    for _ in range(calls):
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=data)
    return (time.perf_counter() - start) / calls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.botocore_floor")
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args(argv)
    per_call = measure(args.calls)
    print(
        json.dumps(
            {"calls": args.calls, "us_per_call": per_call * 1e6, "calls_per_s": 1 / per_call}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

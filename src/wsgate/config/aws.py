"""``aws:``: the AWS services the functions use, served locally (moto, DynamoDB Local)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, TypeAlias
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field

from wsgate.config.common import FROZEN


__all__ = ["AwsSettings", "endpoint_variable", "endpoint_variables"]

_SERVICE = re.compile(r"[A-Za-z][A-Za-z0-9 _-]*")
_CLIENT_NAMES = {
    # boto3's client names whose service identifier differs (botocore's service-2.json
    # serviceId, hyphenized): AWS_ENDPOINT_URL_<identifier> is what the SDKs read.
    "dynamodbstreams": "DYNAMODB_STREAMS",
    "secretsmanager": "SECRETS_MANAGER",
    "events": "EVENTBRIDGE",
    "stepfunctions": "SFN",
    "cognito-idp": "COGNITO_IDENTITY_PROVIDER",
    "apigatewaymanagementapi": "APIGATEWAYMANAGEMENTAPI",
}
_SERVED_BY_WSGATE = {
    "LAMBDA": "the gateway serves Lambda's Invoke API for the functions itself",
}


def endpoint_variable(service: str) -> str:
    """The variable the AWS SDKs (boto3, the JavaScript SDK v3) read for ``service``.

    ``service`` is a boto3 client name (``dynamodb``, ``secretsmanager``) or the SDKs'
    service identifier (``dynamodb_streams``, ``secrets_manager``).
    """
    key = service.strip()
    identifier = _CLIENT_NAMES.get(key.lower()) or re.sub(r"[\s-]+", "_", key).upper()
    return f"AWS_ENDPOINT_URL_{identifier}"


def _check_endpoints(value: dict[str, str]) -> dict[str, str]:
    for service, url in value.items():
        if not _SERVICE.fullmatch(service):
            raise ValueError(f"invalid service name {service!r}: expected e.g. dynamodb, s3, sqs")
        served = _SERVED_BY_WSGATE.get(endpoint_variable(service).removeprefix("AWS_ENDPOINT_URL_"))
        if served:
            raise ValueError(f"{service}: {served}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{service}: expected an http(s) URL such as http://127.0.0.1:8000, got {url!r}"
            )
    return value


Endpoints: TypeAlias = Annotated[dict[str, str], AfterValidator(_check_endpoints)]


class AwsSettings(BaseModel):
    """Where the functions' AWS SDK calls go, service by service."""

    model_config = FROZEN

    endpoints: Endpoints = Field(
        default_factory=dict,
        description=(
            "Service → URL, e.g. `dynamodb: http://127.0.0.1:8000` for moto's server or "
            "DynamoDB Local. Each sets AWS_ENDPOINT_URL_<SERVICE> (boto3, the JavaScript SDK "
            "v3) for every function, in process and in workers; a function's own "
            "`environment` wins. `wsgate serve --create-resources` creates the template's "
            "DynamoDB tables on the dynamodb endpoint."
        ),
    )

    def variables(self) -> dict[str, str]:
        """``AWS_ENDPOINT_URL_<SERVICE>`` for each endpoint."""
        return endpoint_variables(self.endpoints)


def endpoint_variables(endpoints: Mapping[str, str]) -> dict[str, str]:
    """``AWS_ENDPOINT_URL_<SERVICE>`` → URL for ``endpoints`` (service → URL)."""
    return {endpoint_variable(service): url for service, url in endpoints.items()}

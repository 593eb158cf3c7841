"""Which resource types and properties of a template wsgate reads, and where each is written.

A property wsgate neither reads nor counts as without local meaning is named in a notice.
Key paths are ``Resources.<Id>.Properties.<Prop>``, except for the resources expanded from
an ``AWS::Serverless::WebSocketApi``, whose keys point back at the SAM resource's own
(``Resources.ChatApi.Properties.Routes.$connect.FunctionArn``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wsgate.project.assemble import TreeBuilder


__all__ = [
    "API",
    "AUTHORIZER",
    "INTEGRATION",
    "LAMBDA_FUNCTION",
    "ROUTE",
    "ROUTE_RESPONSE",
    "SAM_FUNCTION",
    "SAM_WEBSOCKET_API",
    "STAGE",
    "Keys",
    "note_other_resource",
    "note_properties",
]

API = "AWS::ApiGatewayV2::Api"
ROUTE = "AWS::ApiGatewayV2::Route"
INTEGRATION = "AWS::ApiGatewayV2::Integration"
ROUTE_RESPONSE = "AWS::ApiGatewayV2::RouteResponse"
AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
STAGE = "AWS::ApiGatewayV2::Stage"
SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
SAM_WEBSOCKET_API = "AWS::Serverless::WebSocketApi"

_FUNCTION_PROPERTIES = {
    "Handler",
    "Runtime",
    "Timeout",
    "MemorySize",
    "Environment",
    "ReservedConcurrentExecutions",
    "FunctionName",
}
READ: dict[str, set[str]] = {
    API: {"Name", "ProtocolType", "RouteSelectionExpression"},
    ROUTE: {
        "ApiId",
        "RouteKey",
        "Target",
        "AuthorizationType",
        "AuthorizerId",
        "RouteResponseSelectionExpression",
        "ApiKeyRequired",
    },
    INTEGRATION: {"ApiId", "IntegrationType", "IntegrationUri", "TimeoutInMillis"},
    ROUTE_RESPONSE: {"ApiId", "RouteId", "RouteResponseKey"},
    AUTHORIZER: {"ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource"},
    STAGE: {"ApiId", "StageName", "DefaultRouteSettings", "RouteSettings"},
    SAM_FUNCTION: _FUNCTION_PROPERTIES | {"CodeUri", "InlineCode"},
    LAMBDA_FUNCTION: _FUNCTION_PROPERTIES | {"Code"},
}
"""The properties read, per resource type."""

_NO_LOCAL_MEANING = {
    "Description",
    "Tags",
    "PropagateTags",
    "Name",
    "OperationName",
    "IntegrationMethod",
    "DeploymentId",
    "AutoDeploy",
    "DisableSchemaValidation",
    "DisableExecuteApiEndpoint",
    "IpAddressType",
    "PayloadFormatVersion",
    "Version",
    "FailOnWarnings",
}
_IAM = {"Role", "Policies", "PermissionsBoundary", "CredentialsArn", "AuthorizerCredentialsArn"}
_QUIET_TYPES = {
    "AWS::ApiGatewayV2::Deployment": "API Gateway deploys; wsgate serves the template as read",
    "AWS::Lambda::Permission": "wsgate invokes the template's functions without permissions",
    "AWS::IAM::Role": "IAM is not enforced; functions call AWS with your credentials",
    "AWS::IAM::Policy": "IAM is not enforced; functions call AWS with your credentials",
    "AWS::Logs::LogGroup": "function logs go to wsgate's log",
}


@dataclass
class _Moved:
    resource: str
    """The key of the SAM resource part this resource was made from."""
    prefix: str
    """Where its properties are, unless renamed."""
    renames: dict[str, str] = field(default_factory=dict)


class Keys:
    """The key path of each resource and property, as written in the file."""

    def __init__(self) -> None:
        self._moved: dict[str, _Moved] = {}

    def move(
        self, name: str, resource: str, prefix: str, renames: dict[str, str] | None = None
    ) -> None:
        """Resource ``name`` was made from the part of the file at ``resource``; its
        properties are under ``prefix``, or at ``renames[prop]``."""
        self._moved[name] = _Moved(resource, prefix, dict(renames or {}))

    def is_moved(self, name: str) -> bool:
        """Whether ``name`` was made from a SAM resource rather than written."""
        return name in self._moved

    def resource(self, name: str) -> str:
        moved = self._moved.get(name)
        return moved.resource if moved else f"Resources.{name}"

    def prop(self, name: str, prop: str) -> str:
        moved = self._moved.get(name)
        if moved is None:
            return f"Resources.{name}.Properties.{prop}"
        return moved.renames.get(prop, f"{moved.prefix}.{prop}")

    def properties(self, name: str) -> str:
        moved = self._moved.get(name)
        return moved.prefix if moved else f"Resources.{name}.Properties"


def note_properties(
    builder: TreeBuilder, keys: Keys, name: str, kind: str, props: dict[str, Any]
) -> None:
    """Name each of ``props`` that wsgate does not read."""
    for prop in props:
        key = keys.prop(name, prop)
        if prop in READ.get(kind, set()) or prop in _NO_LOCAL_MEANING:
            continue
        if prop in _IAM:
            builder.note(
                key, "IAM is not enforced", "calls to AWS use your own credentials", info=True
            )
        elif prop == "Events" and kind == SAM_FUNCTION:
            builder.note(
                key,
                "SAM event sources are not connected",
                "only the WebSocket API and Lambda's Invoke API invoke the function",
            )
        else:
            builder.note(key, f"{prop} is not honoured locally", "left out")


def note_other_resource(builder: TreeBuilder, key: str, kind: str) -> None:
    """A resource that is neither the API, a function nor a table
    (``tables.table_resource``): not created, said how."""
    if kind in _QUIET_TYPES:
        builder.note(key, f"{kind} has no local meaning", _QUIET_TYPES[kind], info=True)
    else:
        builder.note(
            key, f"{kind} is not created", "wsgate runs the WebSocket API and its functions"
        )

"""``AWS::Serverless::WebSocketApi`` expanded into the resources SAM generates for it.

As the SAM translator (``samtranslator.model.api.websocket_api_generator``) does: the
``AWS::ApiGatewayV2::Api`` keeps the logical id; a ``Stage`` named ``<Id><StageName>Stage``
(``StageName`` defaults to ``default``, then ``<Id>DefaultStage``); per entry of
``Routes``, a ``Route`` and an ``Integration`` named ``<Id><Key>Route`` and
``<Id><Key>Integration`` (``$connect`` gives ``Connect``); ``Auth`` of type ``CUSTOM``, an
``Authorizer`` ``<Id>ConnectAuthorizer`` on ``$connect``. ``Globals.WebSocketApi`` gives
defaults. The rest of the translation then reads them as any template's, each key path
pointing back at the SAM resource.
"""

from __future__ import annotations

from typing import Any

from wsgate.project.assemble import TreeBuilder
from wsgate.project.cfn_resources import (
    API,
    AUTHORIZER,
    INTEGRATION,
    ROUTE,
    SAM_WEBSOCKET_API,
    STAGE,
    Keys,
)


__all__ = ["expand_websocket_apis"]

_GLOBALS = (
    "AccessLogSettings",
    "ApiKeySelectionExpression",
    "DefaultRouteSettings",
    "DisableExecuteApiEndpoint",
    "DisableSchemaValidation",
    "Domain",
    "FailOnWarnings",
    "IpAddressType",
    "PropagateTags",
    "RouteSelectionExpression",
    "RouteSettings",
    "StageVariables",
    "Tags",
)
"""The properties ``Globals.WebSocketApi`` may set (SAM's list)."""

_API_PROPERTIES = (
    "ApiKeySelectionExpression",
    "Description",
    "DisableExecuteApiEndpoint",
    "DisableSchemaValidation",
    "Domain",
    "FailOnWarnings",
    "IpAddressType",
    "PropagateTags",
    "Tags",
)
_STAGE_PROPERTIES = ("AccessLogSettings", "DefaultRouteSettings", "RouteSettings", "StageVariables")
_ROUTE_PROPERTIES = (
    "ApiKeyRequired",
    "ModelSelectionExpression",
    "OperationName",
    "RequestModels",
    "RequestParameters",
    "RouteResponseSelectionExpression",
)
_SPECIAL_ROUTES = ("$connect", "$disconnect", "$default")
_INVOCATION = (
    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "${Arn}/invocations"
)


def expand_websocket_apis(
    resources: dict[str, dict[str, Any]],
    globals_: object,
    builder: TreeBuilder,
    keys: Keys,
) -> dict[str, dict[str, Any]]:
    """``resources`` with each ``AWS::Serverless::WebSocketApi`` replaced by what SAM
    makes of it, in place; ``keys`` learns where the made resources come from."""
    defaults = globals_.get("WebSocketApi") if isinstance(globals_, dict) else None
    if defaults is not None and not isinstance(defaults, dict):
        raise builder.error("Globals.WebSocketApi", "expected a mapping of properties")
    expanded: dict[str, dict[str, Any]] = {}
    for name, resource in resources.items():
        if resource["Type"] != SAM_WEBSOCKET_API:
            expanded[name] = resource
            continue
        made = _Expansion(name, resource, defaults or {}, builder, keys).resources()
        for made_name in made:
            if made_name in resources and made_name != name:
                raise builder.error(
                    f"Resources.{made_name}",
                    f"SAM names a resource of {name} {made_name}; rename one of them",
                )
        expanded.update(made)
    return expanded


class _Expansion:
    def __init__(
        self,
        name: str,
        resource: dict[str, Any],
        defaults: dict[str, Any],
        builder: TreeBuilder,
        keys: Keys,
    ) -> None:
        self.name = name
        self.key = f"Resources.{name}"
        self.builder = builder
        self.keys = keys
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            raise builder.error(f"{self.key}.Properties", "expected a mapping")
        self.origins: dict[str, str] = {}
        self.props: dict[str, Any] = {}
        for prop in _GLOBALS:
            if prop in defaults:
                self.props[prop] = defaults[prop]
                self.origins[prop] = f"Globals.WebSocketApi.{prop}"
        for prop, value in props.items():
            self.props[prop] = value
            self.origins[prop] = f"{self.key}.Properties.{prop}"
        self.condition = {"Condition": resource["Condition"]} if "Condition" in resource else {}

    def resources(self) -> dict[str, dict[str, Any]]:
        routes = self.props.get("Routes")
        if not isinstance(routes, dict) or not routes:
            raise self.builder.error(
                f"{self.key}.Properties.Routes",
                "required: a mapping of route keys to {FunctionArn: ...}",
            )
        if "RouteSelectionExpression" not in self.props:
            raise self.builder.error(f"{self.key}.Properties.RouteSelectionExpression", "required")
        made = {self.name: self._api()}
        made.update(self._stage())
        auth = self._auth(routes)
        for route_key, spec in routes.items():
            made.update(self._route(str(route_key), spec, auth))
        if auth is not None and auth["AuthType"] == "CUSTOM":
            made.update(self._authorizer(auth))
        return made

    def _resource(self, kind: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"Type": kind, "Properties": props, **self.condition}

    def _api(self) -> dict[str, Any]:
        props: dict[str, Any] = {
            "Name": self.props.get("Name", self.name),
            "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": self.props["RouteSelectionExpression"],
        }
        props.update({p: self.props[p] for p in _API_PROPERTIES if p in self.props})
        self.keys.move(self.name, self.key, f"{self.key}.Properties", self._renames(props))
        return self._resource(API, props)

    def _stage(self) -> dict[str, dict[str, Any]]:
        stage_name = self.props.get("StageName", "default")
        if stage_name == "$default":
            raise self.builder.error(
                self.origins["StageName"], "a WebSocket API's stage cannot be named $default"
            )
        prefix = stage_name if isinstance(stage_name, str) else ""
        name = f"{self.name}{'Default' if prefix == 'default' else prefix}Stage"
        props: dict[str, Any] = {"ApiId": {"Ref": self.name}, "StageName": stage_name}
        props.update({p: self.props[p] for p in _STAGE_PROPERTIES if p in self.props})
        renames = self._renames(props)
        if "StageName" not in self.props:
            renames["StageName"] = self.key  # SAM's default, not written in the file
        self.keys.move(name, self.key, f"{self.key}.Properties", renames)
        return {name: self._resource(STAGE, props)}

    def _auth(self, routes: dict[str, Any]) -> dict[str, Any] | None:
        auth = self.props.get("Auth")
        if auth is None:
            return None
        key = self.origins["Auth"]
        if not isinstance(auth, dict):
            raise self.builder.error(key, "expected a mapping with AuthType")
        kind = str(auth.get("AuthType", "")).upper()
        if kind not in ("NONE", "AWS_IAM", "CUSTOM"):
            raise self.builder.error(
                f"{key}.AuthType", f"expected NONE, AWS_IAM or CUSTOM, got {auth.get('AuthType')!r}"
            )
        if kind == "CUSTOM" and not auth.get("AuthArn"):
            raise self.builder.error(f"{key}.AuthArn", "required when AuthType is CUSTOM")
        if "$connect" not in routes:
            raise self.builder.error(key, "Auth needs a $connect route: it is applied there")
        return {**auth, "AuthType": kind}

    def _route(
        self, route_key: str, spec: object, auth: dict[str, Any] | None
    ) -> dict[str, dict[str, Any]]:
        key = f"{self.origins['Routes']}.{route_key}"
        if not isinstance(spec, dict):
            raise self.builder.error(key, "expected a mapping with FunctionArn")
        if "FunctionArn" not in spec:
            raise self.builder.error(f"{key}.FunctionArn", "required")
        if route_key in _SPECIAL_ROUTES:
            part = route_key[1:].capitalize()
        elif route_key.isalnum():
            part = route_key.capitalize()
        else:
            raise self.builder.error(
                key,
                f"SAM takes alphanumeric route keys (and $connect, $disconnect, $default), "
                f"got {route_key!r}",
            )
        route_id = f"{self.name}{part}Route"
        integration_id = f"{self.name}{part}Integration"
        route: dict[str, Any] = {
            "ApiId": {"Ref": self.name},
            "RouteKey": route_key,
            "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration_id}]]},
        }
        route.update(
            {p: v for p, v in spec.items() if p not in ("FunctionArn", "IntegrationTimeout")}
        )
        renames = {"RouteKey": key, "Target": key}
        if auth is not None and route_key == "$connect":
            route["AuthorizationType"] = auth["AuthType"]
            renames["AuthorizationType"] = f"{self.origins['Auth']}.AuthType"
            if auth["AuthType"] == "CUSTOM":
                route["AuthorizerId"] = f"{self.name}ConnectAuthorizer"
                renames["AuthorizerId"] = self.origins["Auth"]
        self.keys.move(route_id, key, key, renames)
        integration: dict[str, Any] = {
            "ApiId": {"Ref": self.name},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Fn::Sub": [_INVOCATION, {"Arn": spec["FunctionArn"]}]},
        }
        irenames = {"IntegrationType": key, "IntegrationUri": f"{key}.FunctionArn"}
        if "IntegrationTimeout" in spec:
            integration["TimeoutInMillis"] = spec["IntegrationTimeout"]
            irenames["TimeoutInMillis"] = f"{key}.IntegrationTimeout"
        self.keys.move(integration_id, key, key, irenames)
        return {
            route_id: self._resource(ROUTE, route),
            integration_id: self._resource(INTEGRATION, integration),
        }

    def _authorizer(self, auth: dict[str, Any]) -> dict[str, dict[str, Any]]:
        name = f"{self.name}ConnectAuthorizer"
        key = self.origins["Auth"]
        props: dict[str, Any] = {
            "ApiId": {"Ref": self.name},
            "AuthorizerType": "REQUEST",
            "AuthorizerUri": {"Fn::Sub": [_INVOCATION, {"Arn": auth["AuthArn"]}]},
            "Name": auth.get("Name", name),
        }
        renames = {"AuthorizerType": key, "AuthorizerUri": f"{key}.AuthArn", "Name": key}
        if "IdentitySource" in auth:
            props["IdentitySource"] = auth["IdentitySource"]
        if "InvokeRole" in auth:
            props["AuthorizerCredentialsArn"] = auth["InvokeRole"]
            renames["AuthorizerCredentialsArn"] = f"{key}.InvokeRole"
        self.keys.move(name, key, key, renames)
        return {name: self._resource(AUTHORIZER, props)}

    def _renames(self, props: dict[str, Any]) -> dict[str, str]:
        """Properties that came from ``Globals.WebSocketApi`` are named there."""
        return {p: self.origins[p] for p in props if p in self.origins}

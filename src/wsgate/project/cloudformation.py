"""A CloudFormation or SAM template's WebSocket API as a wsgate config.

Read: the ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET`` (or the
``AWS::Serverless::WebSocketApi``, expanded as SAM does) and its ``Route``,
``Integration``, ``RouteResponse``, ``Authorizer`` and ``Stage`` resources; the functions
they invoke, each a wsgate function (``cfn_functions``); ``Parameters`` (defaults,
samconfig and ``--parameter-overrides``) and ``Conditions`` (``cfn_stack``). Everything
else is named in a notice (``cfn_resources``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wsgate.config.model import ApiSettings
from wsgate.exceptions import ConfigError
from wsgate.project.assemble import TreeBuilder
from wsgate.project.cfn_functions import add_template_function
from wsgate.project.cfn_resources import (
    API,
    AUTHORIZER,
    INTEGRATION,
    READ,
    ROUTE,
    ROUTE_RESPONSE,
    STAGE,
    Keys,
    note_other_resource,
    note_properties,
)
from wsgate.project.cfn_stack import make_stack
from wsgate.project.cfn_throttle import map_stage_throttle
from wsgate.project.functions import Setting
from wsgate.project.intrinsics import FUNCTION_TYPES, Resolver
from wsgate.project.options import ProjectOptions
from wsgate.project.sam_websocket import expand_websocket_apis
from wsgate.project.tables import TABLE_TYPES, table_resource


__all__ = ["translate_template"]

_INVOCATIONS = re.compile(
    r"arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(.+)/invocations"
)
_FUNCTION_ARN = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?")


def translate_template(
    tree: dict[str, Any], builder: TreeBuilder, base_dir: Path, options: ProjectOptions
) -> None:
    """Fill ``builder`` from the template ``tree`` (parsed, tags in their long form)."""
    _Template(tree, builder, base_dir, options).translate()


class _Template:
    def __init__(
        self,
        tree: dict[str, Any],
        builder: TreeBuilder,
        base_dir: Path,
        options: ProjectOptions,
    ) -> None:
        self.tree = tree
        self.builder = builder
        self.base_dir = base_dir
        self.options = options
        resources = tree.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise builder.error("Resources", "expected a mapping of resources")
        for name, resource in resources.items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                raise builder.error(f"Resources.{name}", "expected a mapping with a Type")
        self.keys = Keys()
        expanded = expand_websocket_apis(resources, tree.get("Globals"), builder, self.keys)
        self.api_ids: dict[str, str] = {}
        self.stack = make_stack(tree, expanded, builder, base_dir, options, self.api_ids)
        self.resolver = Resolver(self.stack)
        self.resources = {
            name: resource for name, resource in expanded.items() if self._included(name, resource)
        }
        self.used_functions: dict[str, str] = {}  # logical id -> key that uses it

    # --- the whole template ---------------------------------------------------------------

    def translate(self) -> None:
        api = self._websocket_api()
        api_id = self.api_ids[api]
        self.builder.set(("api",), {}, self.keys.resource(api))
        name = self._string(api, "Name", default=api)
        self.builder.set(("api", "name"), name, self.keys.prop(api, "Name"))
        self.builder.set(("api", "api_id"), api_id, self.keys.resource(api))
        self.builder.set(("api", "region"), self.stack.pseudo["AWS::Region"], "AWS::Region")
        self.builder.set(
            ("api", "route_selection_expression"),
            self._string(api, "RouteSelectionExpression"),
            self.keys.prop(api, "RouteSelectionExpression"),
        )
        self._stage(api_id)
        self.function_names: dict[str, str] = {
            self.resolver.string(self.resolver.ref(fid, key), key): fid
            for fid, resource in self.resources.items()
            if resource["Type"] in FUNCTION_TYPES
            for key in [f"Resources.{fid}"]
        }
        two_way = self._two_way_routes(api_id)
        self.builder.set(("routes",), {}, "Resources")
        for rid in self._of_type(ROUTE, api_id):
            self._route(rid, two_way)
        for fid, resource in self.resources.items():
            if resource["Type"] not in FUNCTION_TYPES:
                continue
            deployed = self._deployed_name(fid)
            used = fid in self.used_functions
            try:
                add_template_function(
                    fid,
                    resource,
                    self.tree,
                    self.builder,
                    self.resolver,
                    self.keys,
                    self.base_dir,
                    deployed,
                )
            except ConfigError as exc:
                if used:
                    raise
                # Only another function's Invoke call could reach it: no reason to refuse
                # to serve the API.
                self.builder.note(f"Resources.{fid}", f"cannot be run ({exc})", "it is not run")
                continue
            if not used:
                self.builder.note(
                    f"Resources.{fid}",
                    "no route or authorizer of the WebSocket API invokes this function",
                    f"served through Lambda's Invoke API as {deployed.value} (and its ARN); "
                    "its event sources are not connected",
                    info=True,
                )
        if self.stage_resource is not None:
            props = self.resources[self.stage_resource].get("Properties") or {}
            map_stage_throttle(self.stage_resource, props, self.builder, self.resolver, self.keys)
        self._other_resources()

    def _deployed_name(self, fid: str) -> Setting:
        """What ``!Ref`` to the function gives: its ``FunctionName``, else its logical id."""
        key = self.keys.prop(fid, "FunctionName")
        return Setting(self.resolver.string(self.resolver.ref(fid, key), key), key)

    def _included(self, name: str, resource: dict[str, Any]) -> bool:
        condition = resource.get("Condition")
        if condition is None:
            return True
        key = f"{self.keys.resource(name)}.Condition"
        if self.resolver.condition(str(condition), key):
            return True
        self.builder.note(
            self.keys.resource(name),
            f"condition {condition} is false",
            "it is left out",
            info=True,
        )
        return False

    # --- the API, its stage and routes ----------------------------------------------------

    def _websocket_api(self) -> str:
        apis: list[str] = []
        for name in self._of_type(API):
            kind = self._string(name, "ProtocolType", default="HTTP")
            if kind == "WEBSOCKET":
                apis.append(name)
            else:
                self.builder.note(
                    self.keys.resource(name),
                    f"a {kind} API",
                    "not served: wsgate serves the WebSocket API",
                )
        chosen = self.options.api
        if chosen is not None and chosen not in apis:
            raise self.builder.error(
                "Resources",
                f"--api {chosen}: no WebSocket API of that logical id "
                f"(WebSocket APIs: {', '.join(apis) or 'none'})",
            )
        if not apis:
            raise self.builder.error(
                "Resources",
                "no AWS::ApiGatewayV2::Api with ProtocolType: WEBSOCKET and no "
                "AWS::Serverless::WebSocketApi",
            )
        if chosen is None and len(apis) > 1:
            raise self.builder.error(
                "Resources",
                f"several WebSocket APIs ({', '.join(apis)}): choose the one to serve with "
                "--api LOGICAL_ID",
            )
        api = chosen or apis[0]
        for other in apis:
            if other != api:
                self.builder.note(
                    self.keys.resource(other),
                    "another WebSocket API of the template",
                    f"not served (--api {other} serves it)",
                    info=True,
                )
        probe = ApiSettings(name=self._string(api, "Name", default=api))
        self.api_ids[api] = probe.resolved_api_id()
        self._note_properties(api)
        return api

    def _stage(self, api_id: str) -> None:
        stages = list(self._of_type(STAGE, api_id))
        for stage in stages:
            self._note_properties(stage)
        self.stage_resource = stages[0] if stages else None
        if self.options.stage is not None:
            self.builder.set(("api", "stage"), self.options.stage, "--stage")
            return
        if not stages:
            self.builder.note(
                "Resources", "no AWS::ApiGatewayV2::Stage", "the stage is 'dev' (or --stage)"
            )
            return
        if len(stages) > 1:
            self.builder.note(
                self.keys.resource(stages[1]),
                f"several stages ({', '.join(stages)})",
                f"serving {stages[0]}'s (choose another with --stage)",
            )
        key = self.keys.prop(stages[0], "StageName")
        self.builder.set(("api", "stage"), self._string(stages[0], "StageName"), key)

    def _two_way_routes(self, api_id: str) -> set[str]:
        """Routes with a ``$default`` RouteResponse (by logical id)."""
        routes: set[str] = set()
        for name in self._of_type(ROUTE_RESPONSE, api_id):
            self._note_properties(name)
            route = self._string(name, "RouteId")
            response_key = self._string(name, "RouteResponseKey", default="$default")
            if response_key != "$default":
                self.builder.note(
                    self.keys.prop(name, "RouteResponseKey"),
                    f"route response key {response_key!r}",
                    "the handler's answer is sent as for $default",
                )
            routes.add(route)
        return routes

    def _route(self, rid: str, two_way: set[str]) -> None:
        self._note_properties(rid)
        route_key = self._string(rid, "RouteKey")
        target = self._string(rid, "Target", default="")
        if not target.startswith("integrations/"):
            raise self.builder.error(
                self.keys.prop(rid, "Target"),
                f"expected integrations/IntegrationId, got {target!r}",
            )
        integration = target.removeprefix("integrations/")
        resource = self.resources.get(integration)
        if resource is None or resource["Type"] != INTEGRATION:
            raise self.builder.error(
                self.keys.prop(rid, "Target"), f"no Integration {integration!r}"
            )
        self._note_properties(integration)
        kind = self._string(integration, "IntegrationType")
        if kind not in ("AWS_PROXY", "AWS"):
            self.builder.note(
                self.keys.prop(integration, "IntegrationType"),
                f"{kind} integrations are not run",
                f"route {route_key} is not served",
            )
            return
        if kind == "AWS":
            self.builder.note(
                self.keys.prop(integration, "IntegrationType"),
                "AWS (non-proxy) integrations apply mapping templates",
                "the function gets the proxy event, as with AWS_PROXY",
            )
        function = self._invoked_function(integration, "IntegrationUri")
        self.used_functions.setdefault(function, self.keys.properties(rid))
        loc = ("routes", route_key)
        self.builder.set(loc, {}, self.keys.resource(rid))
        self.builder.set(
            (*loc, "function"), function, self.keys.prop(integration, "IntegrationUri")
        )
        timeout = self._property(integration, "TimeoutInMillis")
        if timeout is not None:
            seconds = _number(timeout) / 1000 if _is_number(timeout) else timeout
            self.builder.set(
                (*loc, "timeout"), seconds, self.keys.prop(integration, "TimeoutInMillis")
            )
        expression = self._property(rid, "RouteResponseSelectionExpression")
        expression_key = self.keys.prop(rid, "RouteResponseSelectionExpression")
        if expression is not None and rid in two_way:
            self.builder.set((*loc, "response"), True, expression_key)
        elif expression is not None:
            self.builder.note(
                expression_key,
                "set without an AWS::ApiGatewayV2::RouteResponse for the route",
                "one-way: the handler's answer is not sent back (as AWS documents)",
            )
        elif rid in two_way:
            self.builder.note(
                self.keys.resource(rid),
                "has a RouteResponse but no RouteResponseSelectionExpression",
                "one-way: the handler's answer is not sent back",
            )
        self._authorization(rid, route_key)

    def _authorization(self, rid: str, route_key: str) -> None:
        kind = self._string(rid, "AuthorizationType", default="NONE")
        kind_key = self.keys.prop(rid, "AuthorizationType")
        required = self._property(rid, "ApiKeyRequired")
        if required is True or str(required).lower() == "true":
            self.builder.note(
                self.keys.prop(rid, "ApiKeyRequired"),
                "API keys and usage plans are not checked",
                "requests are accepted without an API key",
            )
        if kind == "NONE":
            return
        if route_key != "$connect":
            self.builder.note(
                kind_key,
                f"{kind} authorization on {route_key} (API Gateway authorizes on $connect only)",
                "not applied",
            )
            return
        if kind == "AWS_IAM":
            self.builder.note(
                kind_key,
                "AWS_IAM on $connect needs the upgrade request signed and checked against IAM",
                "every connection is accepted without a signature check",
            )
            return
        if kind != "CUSTOM":
            raise self.builder.error(kind_key, f"expected NONE, AWS_IAM or CUSTOM, got {kind!r}")
        authorizer = self._string(rid, "AuthorizerId")
        resource = self.resources.get(authorizer)
        if resource is None or resource["Type"] != AUTHORIZER:
            raise self.builder.error(
                self.keys.prop(rid, "AuthorizerId"), f"no Authorizer {authorizer!r}"
            )
        self._note_properties(authorizer)
        kind = self._string(authorizer, "AuthorizerType", default="REQUEST")
        if kind != "REQUEST":
            raise self.builder.error(
                self.keys.prop(authorizer, "AuthorizerType"),
                f"WebSocket APIs take REQUEST authorizers, got {kind!r}",
            )
        function = self._invoked_function(authorizer, "AuthorizerUri")
        self.used_functions.setdefault(function, self.keys.properties(authorizer))
        self.builder.set(("authorizer",), {}, self.keys.resource(authorizer))
        self.builder.set(
            ("authorizer", "function"), function, self.keys.prop(authorizer, "AuthorizerUri")
        )
        sources_key = self.keys.prop(authorizer, "IdentitySource")
        sources = self._property(authorizer, "IdentitySource") or []
        if isinstance(sources, str):
            sources = [part.strip() for part in sources.split(",")]
        kept = []
        for index, source in enumerate(sources if isinstance(sources, list) else [sources]):
            if isinstance(source, str) and source.startswith(("stageVariables.", "context.")):
                self.builder.note(
                    f"{sources_key}[{index}]",
                    f"{source} is not a request value",
                    "not required before the authorizer runs",
                )
            else:
                kept.append(source)
        self.builder.set(("authorizer", "identity_source"), kept, sources_key)

    def _invoked_function(self, resource: str, prop: str) -> str:
        key = self.keys.prop(resource, prop)
        uri = self._string(resource, prop)
        match = _INVOCATIONS.fullmatch(uri)
        arn = match.group(1) if match else uri
        function = _FUNCTION_ARN.fullmatch(arn)
        if function is None:
            raise self.builder.error(
                key,
                f"expected a Lambda function's invocation URI, got {uri!r}",
            )
        name = function.group(1)
        if name not in self.function_names:
            raise self.builder.error(
                key,
                f"function {name!r} is not in this template; wsgate runs the template's "
                "own functions only",
            )
        return self.function_names[name]

    # --- what is not run ------------------------------------------------------------------

    def _other_resources(self) -> None:
        for name, resource in self.resources.items():
            kind = resource["Type"]
            if kind in READ:
                continue
            if kind in TABLE_TYPES:
                create = self.options.create_resources
                table_resource(self.builder, self.resolver, name, kind, create=create)
                continue
            note_other_resource(self.builder, f"Resources.{name}", kind)

    def _note_properties(self, name: str) -> None:
        resource = self.resources[name]
        props = resource.get("Properties") or {}
        note_properties(self.builder, self.keys, name, resource["Type"], props)

    # --- helpers --------------------------------------------------------------------------

    def _of_type(self, kind: str, api_id: str | None = None) -> list[str]:
        found = []
        for name, resource in self.resources.items():
            if resource["Type"] != kind:
                continue
            if api_id is not None and self._string(name, "ApiId", default=api_id) != api_id:
                if not self.keys.is_moved(name):  # the SAM API itself is named, not its parts
                    self.builder.note(
                        self.keys.resource(name), "belongs to another API", "not served", info=True
                    )
                continue
            found.append(name)
        return found

    def _property(self, name: str, prop: str) -> Any:
        props = self.resources[name].get("Properties") or {}
        if prop not in props:
            return None
        return self.resolver.resolve(props[prop], self.keys.prop(name, prop))

    def _string(self, name: str, prop: str, default: str | None = None) -> str:
        key = self.keys.prop(name, prop)
        props = self.resources[name].get("Properties") or {}
        if prop not in props:
            if default is None:
                raise self.builder.error(key, "required")
            return default
        return self.resolver.string(props[prop], key)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        or (isinstance(value, str) and value.replace(".", "", 1).isdigit())
    )


def _number(value: object) -> float:
    return float(value)  # type: ignore[arg-type]

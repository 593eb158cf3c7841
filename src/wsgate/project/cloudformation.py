"""A CloudFormation or SAM template's WebSocket API as a wsgate config.

Read: the ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET`` and its ``Route``,
``Integration``, ``RouteResponse``, ``Authorizer`` and ``Stage`` resources; the
``AWS::Serverless::Function`` (with ``Globals.Function``) and ``AWS::Lambda::Function``
resources they invoke, each a wsgate function; ``Parameters`` (defaults and
``--parameter-overrides``) and ``Conditions``. Everything else is named in a notice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wsgate.config.model import ApiSettings
from wsgate.exceptions import ConfigError
from wsgate.project.assemble import TreeBuilder
from wsgate.project.functions import FunctionSpec, Setting, add_function
from wsgate.project.intrinsics import FUNCTION_TYPES, Resolver, Stack
from wsgate.project.options import ProjectOptions


__all__ = ["translate_template"]

_API = "AWS::ApiGatewayV2::Api"
_ROUTE = "AWS::ApiGatewayV2::Route"
_INTEGRATION = "AWS::ApiGatewayV2::Integration"
_ROUTE_RESPONSE = "AWS::ApiGatewayV2::RouteResponse"
_AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
_STAGE = "AWS::ApiGatewayV2::Stage"
_SAM_FUNCTION = "AWS::Serverless::Function"

_INVOCATIONS = re.compile(
    r"arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(.+)/invocations"
)
_FUNCTION_ARN = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?")

# Properties read, and properties without a local meaning, per resource type; any other
# property given is named in a notice.
_READ: dict[str, set[str]] = {
    _API: {"Name", "ProtocolType", "RouteSelectionExpression"},
    _ROUTE: {
        "ApiId",
        "RouteKey",
        "Target",
        "AuthorizationType",
        "AuthorizerId",
        "RouteResponseSelectionExpression",
        "ApiKeyRequired",
    },
    _INTEGRATION: {"ApiId", "IntegrationType", "IntegrationUri", "TimeoutInMillis"},
    _ROUTE_RESPONSE: {"ApiId", "RouteId", "RouteResponseKey"},
    _AUTHORIZER: {"ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource"},
    _STAGE: {"ApiId", "StageName"},
    _SAM_FUNCTION: {
        "CodeUri",
        "Handler",
        "Runtime",
        "Timeout",
        "MemorySize",
        "Environment",
        "ReservedConcurrentExecutions",
        "FunctionName",
    },
    "AWS::Lambda::Function": {
        "Code",
        "Handler",
        "Runtime",
        "Timeout",
        "MemorySize",
        "Environment",
        "ReservedConcurrentExecutions",
        "FunctionName",
    },
}
_NO_LOCAL_MEANING = {
    "Description",
    "Tags",
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
_TABLES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")


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
        self.all_resources: dict[str, dict[str, Any]] = resources
        region = options.region()
        self.api_ids: dict[str, str] = {}
        self.stack = Stack(
            source=builder.source,
            root="Resources",
            resources=resources,
            parameters=self._parameters(),
            conditions=_mapping(tree, "Conditions", builder),
            mappings=_mapping(tree, "Mappings", builder),
            pseudo={
                "AWS::Region": region,
                "AWS::AccountId": "123456789012",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": base_dir.name or "wsgate",
                "AWS::StackId": (
                    f"arn:aws:cloudformation:{region}:123456789012:stack/{base_dir.name}/local"
                ),
            },
            physical_names=options.physical_names(set(resources)),
            api_ids=self.api_ids,
            unresolved=lambda key, message: builder.note(key, message, "used as it is"),
        )
        self.resolver = Resolver(self.stack)
        self._check_overrides()
        self.resources = {
            name: resource for name, resource in resources.items() if self._included(name, resource)
        }
        self.used_functions: dict[str, str] = {}  # logical id -> key that uses it

    # --- the whole template ---------------------------------------------------------------

    def translate(self) -> None:
        api = self._websocket_api()
        api_id = self.api_ids[api]
        self.builder.set(("api",), {}, f"Resources.{api}")
        name = self._string(api, "Name", default=api)
        self.builder.set(("api", "name"), name, f"Resources.{api}.Properties.Name")
        self.builder.set(("api", "api_id"), api_id, f"Resources.{api}")
        self.builder.set(("api", "region"), self.stack.pseudo["AWS::Region"], "AWS::Region")
        self.builder.set(
            ("api", "route_selection_expression"),
            self._string(api, "RouteSelectionExpression"),
            f"Resources.{api}.Properties.RouteSelectionExpression",
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
        for rid in self._of_type(_ROUTE, api_id):
            self._route(rid, two_way)
        for fid, resource in self.resources.items():
            if resource["Type"] in FUNCTION_TYPES:
                if fid in self.used_functions:
                    self._function(fid)
                else:
                    self.builder.note(
                        f"Resources.{fid}",
                        "no route or authorizer of the WebSocket API invokes this function",
                        "it is not run",
                        info=True,
                    )
        self._other_resources(api)

    # --- parameters and conditions --------------------------------------------------------

    def _parameters(self) -> dict[str, object]:
        declared = _mapping(self.tree, "Parameters", self.builder)
        values: dict[str, object] = {}
        for name, spec in declared.items():
            key = f"Parameters.{name}"
            if not isinstance(spec, dict):
                raise self.builder.error(key, "expected a mapping with Type and Default")
            if name in self.options.parameter_overrides:
                value: object = self.options.parameter_overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise self.builder.error(
                    key,
                    f"has no Default: give it a value with --parameter-overrides {name}=VALUE",
                )
            allowed = spec.get("AllowedValues")
            if isinstance(allowed, list) and str(value) not in [str(v) for v in allowed]:
                raise self.builder.error(key, f"{value!r} is not one of AllowedValues {allowed!r}")
            kind = str(spec.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                value = [part.strip() for part in str(value).split(",")]
            elif not isinstance(value, str):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            values[name] = value
        return values

    def _check_overrides(self) -> None:
        for name in self.options.parameter_overrides:
            if name not in self.stack.parameters and name not in self.all_resources:
                raise ConfigError(
                    f"--parameter-overrides {name}: {self.builder.source} has no parameter "
                    f"or resource {name!r}"
                )

    def _included(self, name: str, resource: dict[str, Any]) -> bool:
        condition = resource.get("Condition")
        if condition is None:
            return True
        key = f"Resources.{name}.Condition"
        if self.resolver.condition(str(condition), key):
            return True
        self.builder.note(
            f"Resources.{name}", f"condition {condition} is false", "it is left out", info=True
        )
        return False

    # --- the API, its stage and routes ----------------------------------------------------

    def _websocket_api(self) -> str:
        apis: list[str] = []
        for name in self._of_type(_API):
            kind = self._string(name, "ProtocolType", default="HTTP")
            if kind == "WEBSOCKET":
                apis.append(name)
            else:
                self.builder.note(
                    f"Resources.{name}",
                    f"a {kind} API",
                    "not served: wsgate serves the WebSocket API",
                )
        for name in self._of_type("AWS::Serverless::WebSocketApi"):
            raise self.builder.error(
                f"Resources.{name}",
                "AWS::Serverless::WebSocketApi is not read yet; describe the API with "
                "AWS::ApiGatewayV2::Api, Route and Integration resources",
            )
        if not apis:
            raise self.builder.error(
                "Resources", "no AWS::ApiGatewayV2::Api with ProtocolType: WEBSOCKET"
            )
        if len(apis) > 1:
            raise self.builder.error(
                "Resources", f"several WebSocket APIs ({', '.join(apis)}); wsgate serves one"
            )
        api = apis[0]
        probe = ApiSettings(name=self._string(api, "Name", default=api))
        self.api_ids[api] = probe.resolved_api_id()
        self._note_properties(api)
        return api

    def _stage(self, api_id: str) -> None:
        stages = list(self._of_type(_STAGE, api_id))
        for stage in stages:
            self._note_properties(stage)
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
                f"Resources.{stages[1]}",
                f"several stages ({', '.join(stages)})",
                f"serving {stages[0]}'s (choose another with --stage)",
            )
        key = f"Resources.{stages[0]}.Properties.StageName"
        self.builder.set(("api", "stage"), self._string(stages[0], "StageName"), key)

    def _two_way_routes(self, api_id: str) -> set[str]:
        """Routes with a ``$default`` RouteResponse (by logical id)."""
        routes: set[str] = set()
        for name in self._of_type(_ROUTE_RESPONSE, api_id):
            self._note_properties(name)
            route = self._string(name, "RouteId")
            response_key = self._string(name, "RouteResponseKey", default="$default")
            if response_key != "$default":
                self.builder.note(
                    f"Resources.{name}.Properties.RouteResponseKey",
                    f"route response key {response_key!r}",
                    "the handler's answer is sent as for $default",
                )
            routes.add(route)
        return routes

    def _route(self, rid: str, two_way: set[str]) -> None:
        key = f"Resources.{rid}.Properties"
        self._note_properties(rid)
        route_key = self._string(rid, "RouteKey")
        target = self._string(rid, "Target", default="")
        if not target.startswith("integrations/"):
            raise self.builder.error(
                f"{key}.Target", f"expected integrations/IntegrationId, got {target!r}"
            )
        integration = target.removeprefix("integrations/")
        resource = self.resources.get(integration)
        if resource is None or resource["Type"] != _INTEGRATION:
            raise self.builder.error(f"{key}.Target", f"no Integration {integration!r}")
        self._note_properties(integration)
        ikey = f"Resources.{integration}.Properties"
        kind = self._string(integration, "IntegrationType")
        if kind not in ("AWS_PROXY", "AWS"):
            self.builder.note(
                f"{ikey}.IntegrationType",
                f"{kind} integrations are not run",
                f"route {route_key} is not served",
            )
            return
        if kind == "AWS":
            self.builder.note(
                f"{ikey}.IntegrationType",
                "AWS (non-proxy) integrations apply mapping templates",
                "the function gets the proxy event, as with AWS_PROXY",
            )
        function = self._invoked_function(integration, "IntegrationUri")
        self.used_functions.setdefault(function, key)
        loc = ("routes", route_key)
        self.builder.set(loc, {}, f"Resources.{rid}")
        self.builder.set((*loc, "function"), function, f"{ikey}.IntegrationUri")
        timeout = self._property(integration, "TimeoutInMillis")
        if timeout is not None:
            seconds = _number(timeout) / 1000 if _is_number(timeout) else timeout
            self.builder.set((*loc, "timeout"), seconds, f"{ikey}.TimeoutInMillis")
        expression = self._property(rid, "RouteResponseSelectionExpression")
        if expression is not None and rid in two_way:
            self.builder.set((*loc, "response"), True, f"{key}.RouteResponseSelectionExpression")
        elif expression is not None:
            self.builder.note(
                f"{key}.RouteResponseSelectionExpression",
                "set without an AWS::ApiGatewayV2::RouteResponse for the route",
                "one-way: the handler's answer is not sent back (as AWS documents)",
            )
        elif rid in two_way:
            self.builder.note(
                f"Resources.{rid}",
                "has a RouteResponse but no RouteResponseSelectionExpression",
                "one-way: the handler's answer is not sent back",
            )
        self._authorization(rid, route_key)

    def _authorization(self, rid: str, route_key: str) -> None:
        key = f"Resources.{rid}.Properties"
        kind = self._string(rid, "AuthorizationType", default="NONE")
        required = self._property(rid, "ApiKeyRequired")
        if required is True or str(required).lower() == "true":
            self.builder.note(
                f"{key}.ApiKeyRequired",
                "API keys and usage plans are not checked",
                "requests are accepted without an API key",
            )
        if kind == "NONE":
            return
        if route_key != "$connect":
            self.builder.note(
                f"{key}.AuthorizationType",
                f"{kind} authorization on {route_key} (API Gateway authorizes on $connect only)",
                "not applied",
            )
            return
        if kind == "AWS_IAM":
            self.builder.note(
                f"{key}.AuthorizationType",
                "AWS_IAM on $connect needs the upgrade request signed and checked against IAM",
                "every connection is accepted without a signature check",
            )
            return
        if kind != "CUSTOM":
            raise self.builder.error(
                f"{key}.AuthorizationType", f"expected NONE, AWS_IAM or CUSTOM, got {kind!r}"
            )
        authorizer = self._string(rid, "AuthorizerId")
        resource = self.resources.get(authorizer)
        if resource is None or resource["Type"] != _AUTHORIZER:
            raise self.builder.error(f"{key}.AuthorizerId", f"no Authorizer {authorizer!r}")
        self._note_properties(authorizer)
        akey = f"Resources.{authorizer}.Properties"
        kind = self._string(authorizer, "AuthorizerType", default="REQUEST")
        if kind != "REQUEST":
            raise self.builder.error(
                f"{akey}.AuthorizerType", f"WebSocket APIs take REQUEST authorizers, got {kind!r}"
            )
        function = self._invoked_function(authorizer, "AuthorizerUri")
        self.used_functions.setdefault(function, akey)
        self.builder.set(("authorizer",), {}, f"Resources.{authorizer}")
        self.builder.set(("authorizer", "function"), function, f"{akey}.AuthorizerUri")
        sources = self.resolver.resolve(self._property(authorizer, "IdentitySource") or [], akey)
        if isinstance(sources, str):
            sources = [part.strip() for part in sources.split(",")]
        kept = []
        for index, source in enumerate(sources if isinstance(sources, list) else [sources]):
            if isinstance(source, str) and source.startswith(("stageVariables.", "context.")):
                self.builder.note(
                    f"{akey}.IdentitySource[{index}]",
                    f"{source} is not a request value",
                    "not required before the authorizer runs",
                )
            else:
                kept.append(source)
        self.builder.set(("authorizer", "identity_source"), kept, f"{akey}.IdentitySource")

    def _invoked_function(self, resource: str, prop: str) -> str:
        key = f"Resources.{resource}.Properties.{prop}"
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

    # --- functions ------------------------------------------------------------------------

    def _function(self, fid: str) -> None:
        resource = self.resources[fid]
        sam = resource["Type"] == _SAM_FUNCTION
        props, origins = self._function_properties(fid, sam)
        self._note_properties(fid, props)

        def setting(name: str, default: object = None) -> Setting | None:
            if name not in props:
                return None if default is None else Setting(default, f"Resources.{fid}")
            return Setting(self.resolver.resolve(props[name], origins[name]), origins[name])

        if props.get("PackageType") == "Image":
            raise self.builder.error(origins["PackageType"], "container images are not run")
        code = self._code(fid, props, origins, sam)
        handler = setting("Handler")
        runtime = setting("Runtime")
        for name, found in (("Handler", handler), ("Runtime", runtime)):
            if found is None:
                raise self.builder.error(f"Resources.{fid}.Properties.{name}", "required")
        assert handler is not None and runtime is not None
        spec = FunctionSpec(
            name=fid,
            key=f"Resources.{fid}",
            runtime=runtime,
            code=code,
            handler=handler,
            timeout=setting("Timeout"),
            memory_size=setting("MemorySize"),
            concurrency=setting("ReservedConcurrentExecutions"),
        )
        environment = props.get("Environment")
        if environment is not None:
            env_key = origins["Environment"]
            variables = self.resolver.resolve(environment, env_key)
            variables = variables.get("Variables", {}) if isinstance(variables, dict) else None
            if not isinstance(variables, dict):
                raise self.builder.error(env_key, "expected a mapping with Variables")
            for variable, value in variables.items():
                vkey = f"{env_key}.Variables.{variable}"
                spec.environment[str(variable)] = Setting(self.resolver.string(value, vkey), vkey)
        add_function(self.builder, spec)

    def _function_properties(self, fid: str, sam: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """The function's properties over ``Globals.Function`` (SAM only), and where each
        came from; ``Environment.Variables`` are merged, the function's winning."""
        props = self.resources[fid].get("Properties") or {}
        if not isinstance(props, dict):
            raise self.builder.error(f"Resources.{fid}.Properties", "expected a mapping")
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        if sam:
            globals_ = self.tree.get("Globals") or {}
            defaults = globals_.get("Function") if isinstance(globals_, dict) else None
            for name, value in (defaults or {}).items():
                merged[name] = value
                origins[name] = f"Globals.Function.{name}"
        for name, value in props.items():
            origins[name] = f"Resources.{fid}.Properties.{name}"
            base = merged.get(name)
            if name == "Environment" and isinstance(base, dict) and isinstance(value, dict):
                variables = {**(base.get("Variables") or {}), **(value.get("Variables") or {})}
                merged[name] = {**base, **value, "Variables": variables}
            else:
                merged[name] = value
        return merged, origins

    def _code(self, fid: str, props: dict[str, Any], origins: dict[str, str], sam: bool) -> Setting:
        name = "CodeUri" if sam else "Code"
        if name not in props:
            if "InlineCode" in props:
                raise self.builder.error(origins["InlineCode"], "InlineCode is not run yet")
            raise self.builder.error(f"Resources.{fid}.Properties.{name}", "required")
        key = origins[name]
        value = self.resolver.resolve(props[name], key)
        if not isinstance(value, str) or value.startswith("s3://"):
            raise self.builder.error(
                key,
                f"the code must be a local folder, got {value!r} (wsgate runs the code "
                "of your working copy, before packaging)",
            )
        return Setting((self.base_dir / value).resolve(), key)

    # --- what is not run ------------------------------------------------------------------

    def _other_resources(self, api: str) -> None:
        handled = set(_READ) | {"AWS::Serverless::WebSocketApi"}
        for name, resource in self.resources.items():
            kind = resource["Type"]
            key = f"Resources.{name}"
            if kind in handled:
                continue
            if kind in _QUIET_TYPES:
                meaning = _QUIET_TYPES[kind]
                self.builder.note(key, f"{kind} has no local meaning", meaning, info=True)
            elif kind in _TABLES:
                ref = self.resolver.ref(name, key)
                self.builder.note(
                    key,
                    f"{kind} is not created",
                    f"!Ref {name} is {ref!r}; point the functions at a real or local table "
                    f"of that name, or rename it with --parameter-overrides {name}=NAME or "
                    f"WSGATE_REF_{name}",
                )
            else:
                self.builder.note(
                    key, f"{kind} is not created", "wsgate runs the WebSocket API and its functions"
                )

    def _note_properties(self, name: str, props: dict[str, Any] | None = None) -> None:
        resource = self.resources[name]
        kind = resource["Type"]
        if props is None:
            props = resource.get("Properties") or {}
        for prop in props:
            key = f"Resources.{name}.Properties.{prop}"
            if prop in _READ.get(kind, set()) or prop in _NO_LOCAL_MEANING:
                continue
            if prop in _IAM:
                self.builder.note(
                    key, "IAM is not enforced", "calls to AWS use your own credentials", info=True
                )
            elif prop == "Events" and kind == _SAM_FUNCTION:
                self.builder.note(
                    key,
                    "SAM event sources are not connected",
                    "only the WebSocket API invokes the function",
                )
            else:
                self.builder.note(key, f"{prop} is not honoured locally", "left out")

    # --- helpers --------------------------------------------------------------------------

    def _of_type(self, kind: str, api_id: str | None = None) -> list[str]:
        found = []
        for name, resource in self.resources.items():
            if resource["Type"] != kind:
                continue
            if api_id is not None and self._string(name, "ApiId", default=api_id) != api_id:
                self.builder.note(
                    f"Resources.{name}", "belongs to another API", "not served", info=True
                )
                continue
            found.append(name)
        return found

    def _property(self, name: str, prop: str) -> Any:
        props = self.resources[name].get("Properties") or {}
        if prop not in props:
            return None
        return self.resolver.resolve(props[prop], f"Resources.{name}.Properties.{prop}")

    def _string(self, name: str, prop: str, default: str | None = None) -> str:
        key = f"Resources.{name}.Properties.{prop}"
        props = self.resources[name].get("Properties") or {}
        if prop not in props:
            if default is None:
                raise self.builder.error(key, "required")
            return default
        return self.resolver.string(props[prop], key)


def _mapping(tree: dict[str, Any], name: str, builder: TreeBuilder) -> dict[str, Any]:
    value = tree.get(name) or {}
    if not isinstance(value, dict):
        raise builder.error(name, "expected a mapping")
    return value


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        or (isinstance(value, str) and value.replace(".", "", 1).isdigit())
    )


def _number(value: object) -> float:
    return float(value)  # type: ignore[arg-type]

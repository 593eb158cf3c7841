"""A Serverless Framework (v3) service's WebSocket API as a wsgate config.

Read: ``service``, ``provider`` (``stage``, ``region``, ``runtime``, ``timeout``,
``memorySize``, ``environment``, ``websocketsApiName``,
``websocketsApiRouteSelectionExpression``), and each function's ``handler``, ``runtime``,
``timeout``, ``memorySize``, ``reservedConcurrency``, ``environment`` and ``websocket``
events (``route``, ``routeResponseSelectionExpression``, ``authorizer``). Each function a
route or the authorizer names becomes a wsgate function whose code folder is the service
folder. ``resources.Resources`` answers ``!Ref``/``!GetAtt`` in values; everything that is
not run is named in a notice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from wsgate.exceptions import ConfigError
from wsgate.project.assemble import TreeBuilder
from wsgate.project.functions import FunctionSpec, Setting, add_function
from wsgate.project.intrinsics import Resolver, Stack
from wsgate.project.options import ProjectOptions
from wsgate.project.slsvars import Variables
from wsgate.project.tables import TABLE_TYPES, table_resource


__all__ = ["translate_service"]

_SELECTION_KEYS = (
    "websocketsApiRouteSelectionExpression",
    "websocketApiRouteSelectionExpression",  # serverless-websockets-plugin's spelling
)
_DEFAULT_IDENTITY_SOURCE = ["route.request.header.Auth"]
_NOT_RUN = {
    "plugins": "plugins are not run",
    "provider.vpc": "functions run on this machine's network, not in a VPC",
    "provider.apiKeys": "API keys and usage plans are not checked",
    "provider.apiGateway.apiKeys": "API keys and usage plans are not checked",
    "provider.apiGateway.websocketApiId": "wsgate serves its own API, not an existing one",
    "provider.layers": "layers are not added to the functions' path",
    "provider.logs.websocket": "API Gateway's logs are wsgate's log",
    "provider.iam": "IAM is not enforced; functions call AWS with your credentials",
    "provider.iamRoleStatements": "IAM is not enforced; functions call AWS with your credentials",
    "useDotenv": ".env files are not loaded by themselves; give them with --env-file .env",
}
_FUNCTION_NOT_RUN = {
    "vpc": "the function runs on this machine's network, not in a VPC",
    "layers": "layers are not added to the function's path",
    "role": "IAM is not enforced; the function calls AWS with your credentials",
    "iamRoleStatements": "IAM is not enforced; the function calls AWS with your credentials",
    "image": "container images are not run",
    "provisionedConcurrency": "workers start on demand",
}


def translate_service(
    document: dict[str, Any], builder: TreeBuilder, base_dir: Path, options: ProjectOptions
) -> None:
    """Fill ``builder`` from the serverless.yml ``document``."""
    _Service(document, builder, base_dir, options).translate()


class _Service:
    def __init__(
        self,
        document: dict[str, Any],
        builder: TreeBuilder,
        base_dir: Path,
        options: ProjectOptions,
    ) -> None:
        self.document = document
        self.builder = builder
        self.base_dir = base_dir
        self.vars = Variables(document, builder.source, base_dir, options, builder.unresolved)
        provider = self.vars.get("provider.name", "aws")
        if provider != "aws":
            raise builder.error("provider.name", f"expected aws, got {provider!r}")
        service = self.vars.get("service")
        if isinstance(service, dict):
            service = service.get("name")
        if not isinstance(service, str) or not service:
            raise builder.error("service", f"expected the service's name, got {service!r}")
        self.service = service
        self.stage = self.vars.stage()
        self.region = self.vars.region()
        functions = document.get("functions")
        if not isinstance(functions, dict):
            raise builder.error("functions", "expected a mapping of functions")
        self.functions: dict[str, Any] = functions
        raw_resources = (document.get("resources") or {}).get("Resources") or {}
        resources = _LazyResources(self.vars, raw_resources)
        self.resolver = Resolver(
            Stack(
                source=builder.source,
                root="resources.Resources",
                resources=resources,
                pseudo={
                    "AWS::Region": self.region,
                    "AWS::AccountId": "123456789012",
                    "AWS::Partition": "aws",
                    "AWS::URLSuffix": "amazonaws.com",
                    "AWS::StackName": f"{service}-{self.stage}",
                },
                physical_names=options.physical_names(set(raw_resources)),
                attributes=options.resource_attributes,
                unresolved=lambda key, message: builder.note(key, message, "used as it is"),
            )
        )
        self.raw_resources = raw_resources
        self.create_resources = options.create_resources
        self.used: dict[str, str] = {}

    def translate(self) -> None:
        b = self.builder
        name = self.vars.get("provider.websocketsApiName") or (
            f"{self.stage}-{self.service}-websockets"
        )
        b.set(("api",), {}, "provider")
        b.set(("api", "name"), name, "provider.websocketsApiName")
        b.set(("api", "stage"), self.stage, "provider.stage")
        b.set(("api", "region"), self.region, "provider.region")
        for name in _SELECTION_KEYS:
            expression = self.vars.get(f"provider.{name}")
            if expression is not None:
                b.set(("api", "route_selection_expression"), expression, f"provider.{name}")
                break
        b.set(("routes",), {}, "functions")
        for key in self.functions:
            self._events(key)
        for key in self.functions:
            if key in self.used:
                self._function(key)
                continue
            try:
                self._function(key)
            except ConfigError as exc:
                # Only another function's Invoke call could reach it: no reason to refuse
                # to serve the API.
                b.note(f"functions.{key}", f"cannot be run ({exc})", "it is not run")
                continue
            b.note(
                f"functions.{key}",
                "no websocket event or authorizer names this function",
                f"served through Lambda's Invoke API as {self._deployed_name(key)} (and its "
                "ARN); its other events are not connected",
                info=True,
            )
        self._not_run()

    # --- events ---------------------------------------------------------------------------

    def _events(self, function: str) -> None:
        key = f"functions.{function}.events"
        events = self.vars.get(key) or []
        if not isinstance(events, list):
            raise self.builder.error(key, "expected a list of events")
        for index, event in enumerate(events):
            ekey = f"{key}[{index}]"
            if not isinstance(event, dict) or len(event) != 1:
                raise self.builder.error(ekey, "expected a mapping with one event type")
            ((kind, spec),) = event.items()
            if kind != "websocket":
                self.builder.note(
                    f"{ekey}.{kind}",
                    f"{kind} events are not connected",
                    "only the WebSocket API and Lambda's Invoke API invoke the function",
                    info=True,
                )
                continue
            self._websocket(function, spec, f"{ekey}.websocket")

    def _websocket(self, function: str, spec: object, key: str) -> None:
        if isinstance(spec, str):
            spec = {"route": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("route"), str):
            raise self.builder.error(key, "expected a route key, or a mapping with route")
        route = spec["route"]
        loc = ("routes", route)
        if route in self.builder.tree["routes"]:
            first = self.builder.origins[loc]
            raise self.builder.error(key, f"route {route!r} is already {first}")
        self.used.setdefault(function, key)
        self.builder.set(loc, {}, key)
        self.builder.set((*loc, "function"), function, key)
        expression = spec.get("routeResponseSelectionExpression")
        if expression is not None:
            if expression != "$default":
                raise self.builder.error(
                    f"{key}.routeResponseSelectionExpression",
                    f"expected $default (two-way), got {expression!r}",
                )
            self.builder.set((*loc, "response"), True, f"{key}.routeResponseSelectionExpression")
        for other in spec:
            if other not in ("route", "routeResponseSelectionExpression", "authorizer"):
                self.builder.note(f"{key}.{other}", f"{other} is not honoured", "left out")
        if "authorizer" in spec:
            self._authorizer(route, spec["authorizer"], f"{key}.authorizer")

    def _authorizer(self, route: str, spec: object, key: str) -> None:
        if route != "$connect":
            self.builder.note(
                key,
                f"an authorizer on {route} (API Gateway authorizes on $connect only)",
                "not applied",
            )
            return
        if isinstance(spec, str):
            spec = {"arn": spec} if spec.startswith("arn:") else {"name": spec}
        if not isinstance(spec, dict):
            raise self.builder.error(key, "expected a function's name or ARN, or a mapping")
        if "name" in spec:
            function, fkey = str(spec["name"]), f"{key}.name"
            if function not in self.functions:
                known = ", ".join(self.functions)
                raise self.builder.error(fkey, f"no function {function!r} (functions: {known})")
        elif "arn" in spec:
            function, fkey = self._function_of_arn(str(spec["arn"]), f"{key}.arn"), f"{key}.arn"
        else:
            raise self.builder.error(key, "expected name or arn")
        self.used.setdefault(function, key)
        sources = spec.get("identitySource", _DEFAULT_IDENTITY_SOURCE)
        self.builder.set(("authorizer",), {}, key)
        self.builder.set(("authorizer", "function"), function, fkey)
        self.builder.set(("authorizer", "identity_source"), sources, f"{key}.identitySource")

    def _function_of_arn(self, arn: str, key: str) -> str:
        name = arn.split(":function:", 1)[-1].split(":", 1)[0]
        for function in self.functions:
            if name in (function, self._deployed_name(function)):
                return function
        raise self.builder.error(
            key, f"{arn!r} is not a function of this service; wsgate runs the service's own"
        )

    def _deployed_name(self, function: str) -> str:
        named = self.vars.get(f"functions.{function}.name")
        return str(named) if named else f"{self.service}-{self.stage}-{function}"

    # --- functions ------------------------------------------------------------------------

    def _function(self, function: str) -> None:
        key = f"functions.{function}"
        spec = self.document["functions"][function]
        if not isinstance(spec, dict):
            raise self.builder.error(key, "expected a mapping")
        for name, problem in _FUNCTION_NOT_RUN.items():
            if name in spec:
                self.builder.note(f"{key}.{name}", problem, "left out")
        handler = self._setting(f"{key}.handler")
        if handler is None:
            raise self.builder.error(f"{key}.handler", "required")
        runtime = self._setting(f"{key}.runtime") or self._setting("provider.runtime")
        if runtime is None:
            raise self.builder.error(f"{key}.runtime", "required (or provider.runtime)")
        fspec = FunctionSpec(
            name=function,
            key=key,
            runtime=runtime,
            code=Setting(self.base_dir, key),
            handler=handler,
            timeout=(
                self._setting(f"{key}.timeout")
                or self._setting("provider.timeout")
                or Setting(6, "provider.timeout")
            ),
            memory_size=(
                self._setting(f"{key}.memorySize")
                or self._setting("provider.memorySize")
                or Setting(1024, "provider.memorySize")
            ),
            concurrency=self._setting(f"{key}.reservedConcurrency"),
            deployed_name=Setting(self._deployed_name(function), f"{key}.name"),
        )
        for env_key in ("provider.environment", f"{key}.environment"):
            variables = self.vars.get(env_key) or {}
            if not isinstance(variables, dict):
                raise self.builder.error(env_key, "expected a mapping of variables")
            for variable, value in variables.items():
                vkey = f"{env_key}.{variable}"
                fspec.environment[str(variable)] = Setting(self.resolver.string(value, vkey), vkey)
        add_function(self.builder, fspec)

    def _setting(self, path: str) -> Setting | None:
        value = self.vars.get(path)
        return None if value is None else Setting(self.resolver.resolve(value, path), path)

    # --- what is not run ------------------------------------------------------------------

    def _not_run(self) -> None:
        for path, problem in _NOT_RUN.items():
            if _has(self.document, path):
                self.builder.note(path, problem, "left out")
        for name, resource in self.raw_resources.items():
            key = f"resources.Resources.{name}"
            kind = resource.get("Type") if isinstance(resource, dict) else None
            if kind in TABLE_TYPES:
                create = self.create_resources
                table_resource(self.builder, self.resolver, name, str(kind), create=create)
            else:
                self.builder.note(key, f"{kind} is not created", "left out")


class _LazyResources(Mapping[str, Any]):
    """``resources.Resources``, each resource's variables resolved when it is read."""

    def __init__(self, variables: Variables, raw: dict[str, Any]) -> None:
        self._vars = variables
        self._raw = raw

    def __getitem__(self, name: str) -> Any:
        if name not in self._raw:
            raise KeyError(name)
        return self._vars.get(f"resources.Resources.{name}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def _has(document: dict[str, Any], path: str) -> bool:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True

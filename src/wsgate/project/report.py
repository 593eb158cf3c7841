"""What ``wsgate check`` prints: the API a config resolves to, in text or JSON.

The report is built once as plain data (:func:`build_report`), which ``--json`` prints as
is and :func:`render_text` lays out for people; both say the same. Environment values are
masked by :mod:`wsgate.config.masking`'s rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsgate.config.masking import mask_value
from wsgate.config.model import (
    FunctionConfig,
    GatewayConfig,
    JwtAuthorizerConfig,
    RequestAuthorizerConfig,
    RouteConfig,
)
from wsgate.core.ids import api_id_for
from wsgate.project.notices import Notice


__all__ = ["build_report", "render_text"]

Report = dict[str, Any]

_ROUTE_ORDER = {"$connect": 0, "$disconnect": 1, "$default": 2}


def build_report(
    path: Path, described: str, config: GatewayConfig, notices: Sequence[Notice]
) -> Report:
    """The resolved API of ``config`` read from ``path``; ``described`` says what the file
    is (``a SAM/CloudFormation template``, ``a wsgate.yaml importing serverless.yml``)."""
    base = path.absolute().parent
    api = config.api
    server = config.server
    return {
        "file": str(path),
        "kind": described,
        "api": {
            "name": api.name,
            "id": api.api_id or api_id_for(api.name),
            "stage": api.stage,
            "route_selection_expression": api.route_selection_expression,
            "region": api.region,
        },
        "server": {
            "ws": f"ws://{server.host}:{server.port}/{api.stage}",
            "wss": (
                f"wss://{server.host}:{server.tls_port}/{api.stage}"
                if server.tls_port is not None
                else None
            ),
            "registry": config.registry.backend,
            "aws_endpoints": dict(config.aws.endpoints),
        },
        "routes": [
            _route(key, config.routes[key], config, base)
            for key in sorted(config.routes, key=lambda k: (_ROUTE_ORDER.get(k, 3), k))
        ],
        "authorizer": _authorizer(config, base),
        "functions": {
            name: _function(name, function, config, base)
            for name, function in sorted(config.functions.items())
        },
        "notices": [
            {"level": n.level, "key": n.key, "problem": n.problem, "instead": n.instead}
            for n in notices
        ],
    }


def _route(key: str, route: RouteConfig, config: GatewayConfig, base: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"route": key, "two_way": route.response}
    entry.update(_invokes(route.function, route.handler, config, base))
    if route.function is not None:
        # The shorter of the two applies (config.model's RouteConfig.timeout).
        entry["timeout"] = min(route.timeout, config.functions[route.function].timeout)
    else:
        entry["timeout"] = route.timeout
    if route.throttle is not None:
        entry["throttle"] = route.throttle.model_dump()
    return entry


def _authorizer(config: GatewayConfig, base: Path) -> dict[str, Any] | None:
    authorizer = config.authorizer
    if isinstance(authorizer, RequestAuthorizerConfig):
        entry: dict[str, Any] = {
            "type": "request",
            "identity_sources": list(authorizer.identity_source),
            "timeout": authorizer.timeout,
            # API Gateway caches no WebSocket authorizer result: each upgrade runs it.
            "cache_ttl": None,
        }
        entry.update(_invokes(authorizer.function, authorizer.handler, config, base))
        return entry
    if isinstance(authorizer, JwtAuthorizerConfig):
        return {
            "type": "jwt",
            "issuer": authorizer.issuer,
            "audience": list(authorizer.audience),
            "jwks": authorizer.jwks_uri or _folder(authorizer.jwks_file, base),
            "identity_sources": list(authorizer.identity_source),
            "cache_ttl": authorizer.jwks_cache_ttl,
        }
    return None


def _invokes(
    function: str | None, handler: str | None, config: GatewayConfig, base: Path
) -> dict[str, Any]:
    """What a route or the request authorizer invokes: a function (its code, handler and
    runtime) or an in-process handler."""
    if function is None:
        return {"handler": handler, "runtime": "in process"}
    spec = config.functions[function]
    return {
        "function": function,
        "code": _folder(spec.code, base),
        "handler": spec.handler,
        "runtime": spec.runtime,
    }


def _function(
    name: str, function: FunctionConfig, config: GatewayConfig, base: Path
) -> dict[str, Any]:
    routes = [key for key, route in config.routes.items() if route.function == name]
    authorizer = config.authorizer
    if isinstance(authorizer, RequestAuthorizerConfig) and authorizer.function == name:
        routes.append("(authorizer)")
    return {
        "code": _folder(function.code, base),
        "handler": function.handler,
        "runtime": function.runtime,
        "timeout": function.timeout,
        "memory_size": function.memory_size,
        "concurrency": function.concurrency,
        "invoked_by": routes,
        # aws.endpoints' variables, the function's own winning (as its workers get them).
        "environment": {
            variable: mask_value(variable, value)
            for variable, value in sorted(
                {**config.aws.variables(), **function.environment}.items()
            )
        },
    }


def _folder(folder: Path | None, base: Path) -> str | None:
    """A folder relative to the config's own when it is inside it (stable in output)."""
    if folder is None:
        return None
    if folder.is_relative_to(base):
        return os.path.relpath(folder, base) + os.sep
    return str(folder)


# --- text -------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    """The report laid out in sections, one fact per line."""
    api = report["api"]
    lines = [
        f"{report['file']}: {report['kind']}",
        "",
        "API",
        f"  name:              {api['name']} (id {api['id']}, region {api['region']})",
        f"  stage:             {api['stage']}",
        f"  route selection:   {api['route_selection_expression']}",
        f"  listens on:        {report['server']['ws']}"
        + (f" and {report['server']['wss']}" if report["server"]["wss"] else ""),
        f"  registry:          {report['server']['registry']}",
        "  AWS endpoints:     "
        + (
            ", ".join(f"{k}={v}" for k, v in report["server"]["aws_endpoints"].items())
            or "none (functions call AWS itself)"
        ),
        "",
        "Routes",
    ]
    for route in report["routes"] or [{"route": None}]:
        lines.extend(_route_lines(route))
    lines += ["", "Authorizer"]
    lines.extend(_authorizer_lines(report["authorizer"]))
    lines += ["", "Functions"]
    if not report["functions"]:
        lines.append("  none (every integration runs in process)")
    for name, function in report["functions"].items():
        lines.extend(_function_lines(name, function))
    if report.get("unresolved"):
        lines += ["", "Unresolved"]
        lines.extend(f"  {line}" for line in report["unresolved"])
    lines += ["", "Notices"]
    if not report["notices"]:
        lines.append("  none")
    for notice in report["notices"]:
        lines.append(
            f"  {notice['level']}: {notice['key']}: {notice['problem']}; {notice['instead']}"
        )
    return "\n".join(lines)


def _route_lines(route: dict[str, Any]) -> list[str]:
    if route["route"] is None:
        return ["  none"]
    way = "two-way" if route["two_way"] else "one-way"
    if "function" in route:
        head = f"  {route['route']} -> function {route['function']} ({way})"
        body = [
            f"      code:     {route['code']}",
            f"      handler:  {route['handler']}",
            f"      runtime:  {route['runtime']}",
            f"      timeout:  {_seconds(route['timeout'])}",
        ]
    else:
        head = f"  {route['route']} -> handler {route['handler']} (in process, {way})"
        body = [f"      timeout:  {_seconds(route['timeout'])}"]
    if "throttle" in route:
        throttle = route["throttle"]
        body.append(f"      throttle: rate {throttle['rate']}/s, burst {throttle['burst']}")
    return [head, *body]


def _authorizer_lines(authorizer: dict[str, Any] | None) -> list[str]:
    if authorizer is None:
        return ["  none: every upgrade goes to $connect"]
    sources = ", ".join(authorizer["identity_sources"]) or "none"
    if authorizer["type"] == "jwt":
        return [
            "  type:              jwt",
            f"  issuer:            {authorizer['issuer']}",
            f"  audience:          {', '.join(authorizer['audience'])}",
            f"  keys:              {authorizer['jwks']}",
            f"  identity sources:  {sources}",
            f"  key cache:         {_seconds(authorizer['cache_ttl'])}",
        ]
    if "function" in authorizer:
        target = (
            f"function {authorizer['function']} ({authorizer['code']}, "
            f"{authorizer['handler']}, {authorizer['runtime']})"
        )
    else:
        target = f"handler {authorizer['handler']} (in process)"
    return [
        "  type:              request",
        f"  invokes:           {target}",
        f"  identity sources:  {sources}",
        f"  timeout:           {_seconds(authorizer['timeout'])}",
        "  result cache:      none (API Gateway caches no WebSocket authorizer result)",
    ]


def _function_lines(name: str, function: dict[str, Any]) -> list[str]:
    invoked = ", ".join(function["invoked_by"]) or "no route (invoked by name only)"
    lines = [
        f"  {name}",
        f"      code:         {function['code']}",
        f"      handler:      {function['handler']}",
        f"      runtime:      {function['runtime']}",
        f"      timeout:      {_seconds(function['timeout'])}",
        f"      memory:       {function['memory_size']} MB",
        f"      concurrency:  {function['concurrency']}",
        f"      invoked by:   {invoked}",
    ]
    environment = function["environment"]
    if not environment:
        lines.append("      environment:  none")
    else:
        lines.append("      environment:")
        lines.extend(f"        {variable}={value}" for variable, value in environment.items())
    return lines


def _seconds(value: float) -> str:
    return f"{value:g} s"

"""CloudFormation's intrinsic functions, resolved locally as a stack of this gateway.

``Ref`` and ``Fn::GetAtt`` return what CloudFormation returns, made up where AWS would
make it up: a function's ``Ref`` is its ``FunctionName`` or logical id and its ``Arn``
``arn:aws:lambda:{region}:{account}:function:{name}``; the WebSocket API's ``Ref`` is the
id wsgate serves it under; a stage's is its ``StageName``. A resource wsgate does not run
(a DynamoDB table, a queue) has as ``Ref`` its name property (``TableName``, ...) when the
template sets one, else its logical id, which stands for the physical name; either is
replaced by ``--parameter-overrides LogicalId=name`` or the variable ``WSGATE_REF_<LogicalId>``.

Resolution is lazy: only the values wsgate reads are resolved, so an intrinsic that needs
AWS (``Fn::ImportValue``) stops start-up only where it matters, naming its key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wsgate.config.env import key_path
from wsgate.exceptions import ConfigError


__all__ = ["NO_VALUE", "Stack", "Resolver", "FUNCTION_TYPES", "lambda_arn"]

NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()
"""What ``!Ref AWS::NoValue`` resolves to: the key holding it is removed."""

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")

_NAME_PROPERTIES = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
}
"""The property that is a resource's physical name, where its ``Ref`` is that name."""

_SUB_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_CONDITION_FUNCTIONS = ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition")


def lambda_arn(region: str, account: str, name: str) -> str:
    """The unqualified ARN of the function ``name``."""
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


@dataclass
class Stack:
    """What intrinsics are resolved against."""

    source: str
    """How error messages name the file."""
    root: str
    """Key path of the resources' mapping in the file (``Resources`` or ``resources.Resources``)."""
    resources: Mapping[str, Any]
    parameters: Mapping[str, object] = field(default_factory=dict)
    conditions: Mapping[str, object] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    pseudo: Mapping[str, str] = field(default_factory=dict)
    physical_names: Mapping[str, str] = field(default_factory=dict)
    """Overrides of resources' ``Ref`` values, by logical id."""
    api_ids: Mapping[str, str] = field(default_factory=dict)
    """The id wsgate serves each WebSocket API under, by logical id."""
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """``!GetAtt`` values of resources created at start (``--create-resources``)."""
    unresolved: Callable[[str, str], None] = lambda key, message: None
    """Called with a key path and a message for a value made up without AWS's meaning."""


class Resolver:
    """Resolve intrinsic functions in values of one stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # --- public ---------------------------------------------------------------------------

    def resolve(self, value: object, key: str) -> Any:
        """``value`` with every intrinsic replaced; ``key`` is its path, for errors."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((name, argument),) = value.items()
                if name == "Ref" or (isinstance(name, str) and name.startswith("Fn::")):
                    return self._function(name, argument, key_path(key, name))
            resolved = {k: self.resolve(v, key_path(key, k)) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, key_path(key, i)) for i, v in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        return value

    def string(self, value: object, key: str) -> str:
        """Resolve ``value`` and require a string (numbers are written as strings)."""
        resolved = self.resolve(value, key)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, int | float):
            return str(resolved)
        if not isinstance(resolved, str):
            raise self._error(key, f"expected a string, got {resolved!r}")
        return resolved

    def condition(self, name: str, key: str) -> bool:
        """The value of the condition ``name`` of ``Conditions``."""
        if name in self._conditions:
            return self._conditions[name]
        if name not in self.stack.conditions:
            known = ", ".join(self.stack.conditions) or "none are defined"
            raise self._error(key, f"unknown condition {name!r} (Conditions: {known})")
        if name in self._evaluating:
            raise self._error(key, f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(self.stack.conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def ref(self, name: str, key: str) -> Any:
        """What ``!Ref name`` returns."""
        stack = self.stack
        if name in stack.parameters:
            return stack.parameters[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in stack.pseudo:
            return stack.pseudo[name]
        resource = stack.resources.get(name)
        if not isinstance(resource, dict):
            raise self._error(key, f"unknown parameter or resource {name!r}")
        if name in stack.physical_names:
            return stack.physical_names[name]
        kind = resource.get("Type")
        if kind == "AWS::ApiGatewayV2::Api" and name in stack.api_ids:
            return stack.api_ids[name]
        properties = resource.get("Properties") or {}
        where = f"{stack.root}.{name}.Properties"
        if kind == "AWS::ApiGatewayV2::Stage" and "StageName" in properties:
            return self.string(properties["StageName"], f"{where}.StageName")
        prop = _NAME_PROPERTIES.get(str(kind))
        if prop is not None and isinstance(properties, dict) and prop in properties:
            return self.string(properties[prop], f"{where}.{prop}")
        return name

    def get_att(self, name: str, attribute: str, key: str) -> str:
        """What ``!GetAtt name.attribute`` returns."""
        resource = self.stack.resources.get(name)
        if not isinstance(resource, dict):
            raise self._error(key, f"unknown resource {name!r}")
        created = self.stack.attributes.get(name, {})
        if attribute in created:
            return created[attribute]
        kind = str(resource.get("Type"))
        region, account = self.stack.pseudo["AWS::Region"], self.stack.pseudo["AWS::AccountId"]
        if kind in FUNCTION_TYPES and attribute == "Arn":
            return lambda_arn(region, account, str(self.ref(name, key)))
        if kind == "AWS::ApiGatewayV2::Api" and attribute in ("ApiId", "ApiEndpoint"):
            api_id = str(self.ref(name, key))
            if attribute == "ApiId":
                return api_id
            return f"wss://{api_id}.execute-api.{region}.amazonaws.com"
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{region}:{account}:table/{self.ref(name, key)}"
        if attribute == "Arn":
            service = kind.split("::")[1].lower() if kind.count("::") == 2 else "unknown"
            return f"arn:aws:{service}:{region}:{account}:{self.ref(name, key)}"
        self.stack.unresolved(
            key, f"!GetAtt {name}.{attribute} ({kind}) has no local value; it is {name}.{attribute}"
        )
        return f"{name}.{attribute}"

    # --- the functions --------------------------------------------------------------------

    def _function(self, name: str, argument: object, key: str) -> Any:
        if name == "Ref":
            return self.ref(self._name(argument, key), key)
        handler = _FUNCTIONS.get(name)
        if handler is None:
            if name == "Fn::ImportValue":
                raise self._error(
                    key, "Fn::ImportValue reads another stack's output, which needs AWS"
                )
            if name in _CONDITION_FUNCTIONS:
                return self._truth({name: argument}, key)
            raise self._error(key, f"unsupported intrinsic function {name}")
        return handler(self, argument, key)

    def _get_att(self, argument: object, key: str) -> str:
        argument = self.resolve(argument, key)
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            raise self._error(key, f"expected [LogicalId, Attribute], got {argument!r}")
        return self.get_att(str(argument[0]), str(argument[1]), key)

    def _sub(self, argument: object, key: str) -> str:
        variables: dict[str, object] = {}
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                raise self._error(key, "expected a string, or [string, {Name: value}]")
            variables = {str(k): self.resolve(v, key_path(key, k)) for k, v in argument[1].items()}
            argument = argument[0]
        if not isinstance(argument, str):
            raise self._error(key, f"expected a string, got {argument!r}")

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            name = inner.strip()
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                value = self.get_att(resource, attribute, key)
            else:
                value = self.ref(name, key)
            if isinstance(value, dict | list):
                raise self._error(key, f"${{{name}}} is not a string: {value!r}")
            return str(value)

        return _SUB_REFERENCE.sub(replace, argument)

    def _join(self, argument: object, key: str) -> str:
        delimiter, items = self._pair(argument, key, "[delimiter, [values]]")
        items = self.resolve(items, key)
        if not isinstance(items, list):
            raise self._error(key, f"expected a list of values to join, got {items!r}")
        return str(delimiter).join(self.string(item, key) for item in items)

    def _select(self, argument: object, key: str) -> Any:
        index, items = self._pair(argument, key, "[index, [values]]")
        items = self.resolve(items, key)
        try:
            position = int(self.resolve(index, key))
        except (TypeError, ValueError):
            raise self._error(key, f"expected an integer index, got {index!r}") from None
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise self._error(key, f"index {position} is outside {items!r}")
        return items[position]

    def _split(self, argument: object, key: str) -> list[str]:
        delimiter, text = self._pair(argument, key, "[delimiter, string]")
        return self.string(text, key).split(str(delimiter))

    def _if(self, argument: object, key: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise self._error(key, "expected [condition, value if true, value if false]")
        name = self._name(argument[0], key)
        chosen = argument[1] if self.condition(name, key) else argument[2]
        return self.resolve(chosen, key)

    def _find_in_map(self, argument: object, key: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise self._error(key, "expected [MapName, TopLevelKey, SecondLevelKey]")
        names = [self.string(part, key) for part in argument]
        node: Any = self.stack.mappings
        for name in names:
            if not isinstance(node, dict) or name not in node:
                raise self._error(key, f"no {'.'.join(names)} in Mappings")
            node = node[name]
        return self.resolve(node, key)

    def _get_azs(self, argument: object, key: str) -> list[str]:
        region = self.string(argument, key) or self.stack.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    def _base64(self, argument: object, key: str) -> str:
        return base64.b64encode(self.string(argument, key).encode()).decode()

    # --- conditions -----------------------------------------------------------------------

    def _truth(self, value: object, key: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            where = key_path(key, name)
            if name == "Condition":
                return self.condition(self._name(argument, where), where)
            if name == "Fn::Equals":
                left, right = self._pair(argument, where, "[value, value]")
                return self._comparable(left, where) == self._comparable(right, where)
            if name in ("Fn::Not", "Fn::And", "Fn::Or") and isinstance(argument, list):
                results = [self._truth(item, key_path(where, i)) for i, item in enumerate(argument)]
                if name == "Fn::Not" and len(results) == 1:
                    return not results[0]
                if name == "Fn::And":
                    return all(results)
                if name == "Fn::Or":
                    return any(results)
            if name == "Fn::If":
                return self._truth(self._if(argument, where), where)
        raise self._error(key, f"expected a condition, got {value!r}")

    def _comparable(self, value: object, key: str) -> object:
        resolved = self.resolve(value, key)
        return str(resolved) if isinstance(resolved, int | float | bool) else resolved

    # --- helpers --------------------------------------------------------------------------

    def _pair(self, argument: object, key: str, shape: str) -> tuple[object, object]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise self._error(key, f"expected {shape}, got {argument!r}")
        return argument[0], argument[1]

    def _name(self, argument: object, key: str) -> str:
        if not isinstance(argument, str):
            raise self._error(key, f"expected a name, got {argument!r}")
        return argument

    def _error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.stack.source}: {key}: {message}")


_FUNCTIONS: dict[str, Callable[[Resolver, object, str], Any]] = {
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::GetAZs": Resolver._get_azs,
    "Fn::Base64": Resolver._base64,
}

"""Evaluate a REQUEST authorizer's response: an IAM policy against the ``$connect`` ARN.

Outcomes (CONTRACT §2.4-2.5): ``Allow`` continues the handshake, ``Deny`` is a 403 and
``Invalid`` (a malformed response) is a 500.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import orjson


__all__ = [
    "Allow",
    "ContextValue",
    "Deny",
    "Invalid",
    "arn_matches",
    "authorizer_request_context",
    "evaluate_authorizer_response",
]

ContextValue = str | int | float | bool | None

_INVOKE_ACTION = "execute-api:Invoke"
_NEGATIVE = {"Action": "NotAction", "Resource": "NotResource"}
# A tuple, not a union: isinstance checks a tuple faster.
_CONTEXT_TYPES = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class Allow:
    """The policy allows ``$connect``; ``context`` is the authorizer's validated context."""

    principal_id: str
    context: dict[str, ContextValue]


@dataclass(frozen=True, slots=True)
class Deny:
    """The policy denies ``$connect`` explicitly or does not allow it (403)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """The response is malformed (500); ``reason`` is for logs, never for clients."""

    reason: str


def _segment(text: str) -> str:
    """Regex for a wildcard-free run: `?` is any one character, the rest is literal."""
    return "".join("." if char == "?" else re.escape(char) for char in text)


@lru_cache(maxsize=1024)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: `*` is any run of characters (including `/` and `:`), `?` exactly one;
    # everything else is escaped, so user text can never inject regex syntax.
    # A naive `.*` per star backtracks exponentially on patterns like `*a*a*a*b`. Matching
    # each middle run at its first occurrence is always enough for globs (an earlier end
    # only leaves more text for the rest), so each one sits in an atomic group and the
    # match never backtracks into it.
    if "*" not in pattern:
        regex = _segment(pattern)
    else:
        first, *middle, last = pattern.split("*")
        runs = "".join(f"(?>.*?{_segment(run)})" for run in middle if run)
        regex = f"{_segment(first)}{runs}.*{_segment(last)}"
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(regex, flags)


def arn_matches(pattern: str, arn: str) -> bool:
    """Tell whether an IAM resource pattern matches ``arn`` (case-sensitive).

    ``*`` matches any sequence, including ``/``; ``?`` matches one character; everything
    else, ``$`` included, is literal. So ``.../prod/*/*`` does not match ``.../prod/$connect``.
    """
    # Most policies name the method ARN itself: no pattern needed for that.
    return pattern == arn or _compile(pattern, False).fullmatch(arn) is not None


def _invokes(patterns: list[str]) -> bool:
    """Whether any action pattern covers ``execute-api:Invoke`` (case-insensitive, as IAM)."""
    for pattern in patterns:
        if pattern == _INVOKE_ACTION or _compile(pattern, True).fullmatch(_INVOKE_ACTION):
            return True
    return False


def _covers(patterns: list[str], arn: str) -> bool:
    """Whether any resource pattern matches ``arn`` (as ``arn_matches``)."""
    for pattern in patterns:
        if pattern == arn or _compile(pattern, False).fullmatch(arn):
            return True
    return False


def _element(
    statement: dict[str, object], positive: str, index: int
) -> tuple[bool, list[str]] | Invalid:
    """Read ``Action``/``NotAction`` or ``Resource``/``NotResource`` of one statement.

    Returns whether the positive key is the one given, and its patterns.
    """
    negative = _NEGATIVE[positive]
    has_positive = positive in statement
    if has_positive == (negative in statement):
        return Invalid(f"Statement[{index}] needs exactly one of {positive} or {negative}")
    key = positive if has_positive else negative
    value = statement[key]
    if isinstance(value, str):
        return has_positive, [value]
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                break
        else:
            return has_positive, value
    return Invalid(f"Statement[{index}].{key} must be a string or a list of strings")


def _statement_effect(statement: object, index: int, method_arn: str) -> str | None | Invalid:
    """Return the statement's Effect if it covers Invoke on ``method_arn``, else None."""
    if not isinstance(statement, dict):
        return Invalid(f"Statement[{index}] is not an object")
    effect = statement.get("Effect")
    if effect != "Allow" and effect != "Deny":
        return Invalid(f"Statement[{index}].Effect must be 'Allow' or 'Deny', got {effect!r}")
    if "Condition" in statement:
        # Conditions cannot be evaluated here; ignoring one could grant too much.
        return Invalid(f"Statement[{index}] has a Condition, which is not supported")
    # Both elements are validated before either is matched: a malformed one is Invalid
    # even in a statement that would not apply.
    action = _element(statement, "Action", index)
    if isinstance(action, Invalid):
        return action
    resource = _element(statement, "Resource", index)
    if isinstance(resource, Invalid):
        return resource
    # A positive element applies when a pattern matches, a Not... element when none does.
    positive_action, actions = action
    positive_resource, resources = resource
    applies = (
        _invokes(actions) is positive_action and _covers(resources, method_arn) is positive_resource
    )
    return str(effect) if applies else None


def _validate_context(value: object) -> dict[str, ContextValue] | Invalid:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return Invalid("context must be an object")
    for key, item in value.items():
        if not isinstance(key, str):
            return Invalid(f"context key {key!r} is not a string")
        if isinstance(item, float) and not math.isfinite(item):
            return Invalid(f"context[{key!r}] is not a finite number")
        if item is not None and not isinstance(item, _CONTEXT_TYPES):
            # AWS accepts only strings, numbers and booleans (and passes null through).
            return Invalid(f"context[{key!r}] must be a string, number or boolean")
    return value


def evaluate_authorizer_response(response: object, method_arn: str) -> Allow | Deny | Invalid:
    """Decide the authorizer's verdict on ``method_arn``.

    The response must be an object with a string ``principalId`` (a number is Invalid: AWS
    documents it as a string and we do not guess a rendering) and a ``policyDocument`` whose
    ``Statement`` is an object or a list of objects. Each statement has ``Effect`` exactly
    ``"Allow"`` or ``"Deny"``, one of ``Action``/``NotAction`` matched against
    ``execute-api:Invoke``, and one of ``Resource``/``NotResource`` matched with
    ``arn_matches``; each a string or a list of strings (an empty list matches nothing).
    Statements with a ``Condition`` are Invalid. The whole document is validated before
    deciding; then an applicable Deny wins, an applicable Allow allows, and anything else
    is a Deny. ``context`` is optional (null counts as absent); its values must be strings,
    finite numbers, booleans or null.
    """
    if not isinstance(response, dict):
        return Invalid(f"the response must be an object, got {type(response).__name__}")
    principal_id = response.get("principalId")
    if not isinstance(principal_id, str):
        return Invalid("principalId must be a string")
    document = response.get("policyDocument")
    if not isinstance(document, dict):
        return Invalid("policyDocument must be an object")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return Invalid("policyDocument.Statement must be an object or a list of objects")
    allowed = denied = False
    for index, statement in enumerate(statements):
        effect = _statement_effect(statement, index, method_arn)
        if isinstance(effect, Invalid):
            return effect
        denied = denied or effect == "Deny"
        allowed = allowed or effect == "Allow"
    context = _validate_context(response.get("context"))
    if isinstance(context, Invalid):
        return context
    if denied:
        return Deny(f"an explicit Deny covers {method_arn}")
    if not allowed:
        return Deny(f"no Allow statement covers {method_arn}")
    return Allow(principal_id, context)


def _stringify(value: ContextValue) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value).decode()


def authorizer_request_context(allow: Allow, integration_latency_ms: int) -> dict[str, object]:
    """Build ``requestContext.authorizer`` for every later event of the connection.

    ``{"principalId", "integrationLatency", **context}`` with context values stringified
    as on REST (``3`` → ``"3"``, ``1.5`` → ``"1.5"``, ``True`` → ``"true"``, null stays null).
    Context keys named ``principalId`` or ``integrationLatency`` are dropped: the gateway's
    own values must not be spoofable by the authorizer's context.
    """
    result: dict[str, object] = {
        "principalId": allow.principal_id,
        "integrationLatency": integration_latency_ms,
    }
    for key, value in allow.context.items():
        if key not in result:
            result[key] = _stringify(value)
    return result

"""Tests for wsgate.core.policy."""

from __future__ import annotations

import time
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.policy import (
    Allow,
    ContextValue,
    Deny,
    Invalid,
    arn_matches,
    authorizer_request_context,
    evaluate_authorizer_response,
)


ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$connect"


def statement(
    effect: str = "Allow", action: object = "execute-api:Invoke", resource: object = ARN
) -> dict[str, object]:
    return {"Action": action, "Effect": effect, "Resource": resource}


def response(*statements: object, **extra: object) -> dict[str, object]:
    return {
        "principalId": "user-123",
        "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
        **extra,
    }


def test_allow_exact_arn() -> None:
    """An Allow statement on the exact methodArn allows, with the principal and context."""
    result = evaluate_authorizer_response(
        response(statement(), context={"tenant": "acme", "level": 3}), ARN
    )
    assert result == Allow("user-123", {"tenant": "acme", "level": 3})


def test_statement_may_be_a_single_object() -> None:
    """Statement may be one object instead of a list."""
    doc = {"principalId": "p", "policyDocument": {"Statement": statement()}}
    assert evaluate_authorizer_response(doc, ARN) == Allow("p", {})


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:execute-api:*",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/*",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/*/$connect",
        "arn:aws:execute-api:*:*:*/prod/$connect",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/pro?/$connect",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/?connect",
        ["arn:aws:s3:::bucket", ARN],
    ],
)
def test_allow_wildcard_resources(resource: object) -> None:
    """IAM wildcards in Resource cover the $connect ARN."""
    assert isinstance(
        evaluate_authorizer_response(response(statement(resource=resource)), ARN), Allow
    )


@pytest.mark.parametrize(
    "resource",
    [
        # REST-style pattern: needs an extra path segment, so it misses $connect.
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*/*",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/dev/$connect",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$CONNECT",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/?$connect",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod",
        [],
    ],
)
def test_non_matching_resource_is_deny(resource: object) -> None:
    """An Allow that does not cover the methodArn is a Deny."""
    result = evaluate_authorizer_response(response(statement(resource=resource)), ARN)
    assert isinstance(result, Deny)


@pytest.mark.parametrize(
    "action",
    [
        "execute-api:Invoke",
        "execute-api:invoke",
        "execute-api:*",
        "*",
        "execute-api:In*",
        ["s3:GetObject", "execute-api:*"],
    ],
)
def test_action_wildcards_allow(action: object) -> None:
    """Action matches execute-api:Invoke with wildcards and in any case."""
    assert isinstance(evaluate_authorizer_response(response(statement(action=action)), ARN), Allow)


@pytest.mark.parametrize(
    "action", ["execute-api:ManageConnections", "s3:*", "execute-api:Invoke2", []]
)
def test_other_actions_do_not_allow(action: object) -> None:
    """An Allow for another action is a Deny."""
    assert isinstance(evaluate_authorizer_response(response(statement(action=action)), ARN), Deny)


@pytest.mark.parametrize("order", [1, -1])
def test_explicit_deny_wins(order: int) -> None:
    """An applicable Deny beats an applicable Allow whatever the order."""
    statements = [statement(resource="*"), statement("Deny")][::order]
    assert isinstance(evaluate_authorizer_response(response(*statements), ARN), Deny)


def test_deny_that_does_not_apply_is_ignored() -> None:
    """A Deny on another resource does not stop an Allow."""
    statements = [statement(), statement("Deny", resource="arn:aws:execute-api:*/dev/*")]
    assert isinstance(evaluate_authorizer_response(response(*statements), ARN), Allow)


def test_empty_statement_list_is_deny() -> None:
    """No statements means nothing is allowed."""
    assert isinstance(evaluate_authorizer_response(response(), ARN), Deny)


def test_not_resource_and_not_action() -> None:
    """NotResource / NotAction apply to everything they do not list."""
    not_resource = {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::*"}
    assert isinstance(evaluate_authorizer_response(response(not_resource), ARN), Allow)
    excluded = {"Effect": "Allow", "Action": "*", "NotResource": ARN}
    assert isinstance(evaluate_authorizer_response(response(excluded), ARN), Deny)
    not_action = {"Effect": "Allow", "NotAction": "execute-api:Invoke", "Resource": "*"}
    assert isinstance(evaluate_authorizer_response(response(not_action), ARN), Deny)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "Allow",
        {"policyDocument": {"Statement": [statement()]}},
        {"principalId": 123, "policyDocument": {"Statement": [statement()]}},
        {"principalId": None, "policyDocument": {"Statement": [statement()]}},
        {"principalId": "p"},
        {"principalId": "p", "policyDocument": "allow"},
        {"principalId": "p", "policyDocument": {}},
        {"principalId": "p", "policyDocument": {"Statement": "Allow"}},
        response("not an object"),
        response(statement(effect="allow")),
        response(statement(effect="ALLOW")),
        response({"Effect": "Allow", "Resource": ARN}),
        response({"Effect": "Allow", "Action": "*"}),
        response({"Action": "*", "Resource": ARN}),
        response({**statement(), "NotAction": "s3:*"}),
        response({**statement(), "NotResource": "x"}),
        response(statement(resource=[ARN, 1])),
        response(statement(resource=None)),
        response(statement(action={"a": 1})),
        response({**statement(), "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
        {"statusCode": 401},
    ],
)
def test_malformed_responses_are_invalid(bad: object) -> None:
    """Shapes AWS cannot read are Invalid (500), never Allow or Deny."""
    assert isinstance(evaluate_authorizer_response(bad, ARN), Invalid)


@pytest.mark.parametrize(
    "bad",
    [
        statement(action="s3:GetObject", resource=[ARN, 1]),
        statement(action=[], resource=None),
        {"Effect": "Deny", "NotAction": "execute-api:Invoke", "Resource": 7},
        {"Effect": "Allow", "Action": "s3:*"},
    ],
)
def test_malformed_resource_is_invalid_even_when_the_action_does_not_apply(bad: object) -> None:
    """Both elements of a statement are validated, whether or not the statement applies."""
    assert isinstance(evaluate_authorizer_response(response(bad), ARN), Invalid)


def test_action_patterns_are_case_insensitive_resources_are_not() -> None:
    """`execute-api:invoke` is Invoke; a resource differing only in case is not the ARN."""
    assert isinstance(
        evaluate_authorizer_response(response(statement(action="EXECUTE-API:*")), ARN), Allow
    )
    upper = statement(resource=ARN.replace("$connect", "$CONNECT"))
    assert isinstance(evaluate_authorizer_response(response(upper), ARN), Deny)


def test_malformed_statement_is_invalid_even_after_a_deny() -> None:
    """The whole document is validated before deciding."""
    result = evaluate_authorizer_response(response(statement("Deny"), "junk"), ARN)
    assert isinstance(result, Invalid)


@pytest.mark.parametrize(
    "context",
    [
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        "tenant=acme",
        ["a"],
        {"nan": float("nan")},
        {"inf": float("inf")},
        {1: "int key"},
    ],
)
def test_invalid_context_is_invalid(context: object) -> None:
    """Objects, arrays and non-finite numbers in context make the response Invalid."""
    result = evaluate_authorizer_response(response(statement(), context=context), ARN)
    assert isinstance(result, Invalid)


def test_invalid_context_is_invalid_even_when_denied() -> None:
    """A bad context is reported even when the policy denies."""
    result = evaluate_authorizer_response(response(statement("Deny"), context=[1]), ARN)
    assert isinstance(result, Invalid)


def test_context_null_counts_as_absent() -> None:
    """context: null is the same as no context."""
    assert evaluate_authorizer_response(response(statement(), context=None), ARN) == Allow(
        "user-123", {}
    )


def test_context_scalars_are_kept() -> None:
    """String, number, boolean and null context values pass validation unchanged."""
    context: dict[str, ContextValue] = {"s": "x", "i": 3, "f": 1.5, "t": True, "n": None}
    result = evaluate_authorizer_response(response(statement(), context=context), ARN)
    assert result == Allow("user-123", context)


def test_authorizer_request_context_stringifies() -> None:
    """Context values are stringified after principalId and integrationLatency."""
    allow = Allow(
        "user-123",
        {"tenant": "acme", "level": 3, "ratio": 1.5, "admin": True, "guest": False, "n": None},
    )
    result = authorizer_request_context(allow, 42)
    assert result == {
        "principalId": "user-123",
        "integrationLatency": 42,
        "tenant": "acme",
        "level": "3",
        "ratio": "1.5",
        "admin": "true",
        "guest": "false",
        "n": None,
    }
    assert list(result)[:2] == ["principalId", "integrationLatency"]


def test_authorizer_request_context_cannot_be_spoofed() -> None:
    """Context keys named like the gateway's own fields do not override them."""
    allow = Allow("real", {"principalId": "fake", "integrationLatency": 0, "x": "y"})
    assert authorizer_request_context(allow, 7) == {
        "principalId": "real",
        "integrationLatency": 7,
        "x": "y",
    }


def reference_match(pattern: str, text: str) -> bool:
    """An independent IAM glob matcher (dynamic programming, no regex)."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        char = pattern[i]
        if char == "*":
            return match(i + 1, j) or (j < len(text) and match(i, j + 1))
        if j == len(text):
            return False
        return (char == "?" or char == text[j]) and match(i + 1, j + 1)

    return match(0, 0)


# Regex metacharacters included on purpose: they must be literal.
ALPHABET = "ab/$.:[]()+^\\|{}\n"


@given(st.text(alphabet=ALPHABET + "*?", max_size=12), st.text(alphabet=ALPHABET, max_size=12))
def test_arn_matches_agrees_with_reference(pattern: str, text: str) -> None:
    """arn_matches equals a straightforward glob matcher for any input."""
    assert arn_matches(pattern, text) == reference_match(pattern, text)


@given(st.text(alphabet=ALPHABET, max_size=20))
def test_literal_pattern_matches_only_itself(text: str) -> None:
    """A pattern without wildcards matches exactly its own text."""
    assert arn_matches(text, text)
    assert not arn_matches(text, text + "x")
    assert arn_matches("*", text)


def test_arn_matches_is_case_sensitive() -> None:
    """Resource matching is case-sensitive."""
    assert not arn_matches("arn:aws:execute-api:*/Prod/*", ARN)


def test_pathological_patterns_are_fast() -> None:
    """Many stars cannot cause catastrophic backtracking (this would take hours if so)."""
    started = time.perf_counter()
    assert not arn_matches("*a" * 30 + "b", "a" * 200)
    assert arn_matches("*a" * 30 + "*", "a" * 200)
    assert not arn_matches("?*" * 30 + "b", "a" * 200)
    assert time.perf_counter() - started < 1.0

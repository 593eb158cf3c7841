"""Tests for wsgate.core.claims: the JWT authorizer's claim checks and its context."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.claims import (
    ClaimsPolicy,
    InvalidClaims,
    ValidClaims,
    check_claims,
    jwt_authorizer_context,
    token_scopes,
)


NOW = 1_700_000_000.0
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123"
POLICY = ClaimsPolicy(issuer=ISSUER, audiences=frozenset({"client-a", "client-b"}))


def claims(**changes: Any) -> dict[str, object]:
    """A valid id-token-like payload with ``changes`` applied (None removes a claim)."""
    base: dict[str, object] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": "client-a",
        "iat": NOW - 10,
        "exp": NOW + 3600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def refused(result: ValidClaims | InvalidClaims) -> str:
    assert isinstance(result, InvalidClaims), result
    return result.reason


def test_valid_claims_give_sub_as_principal() -> None:
    """A token that passes every check yields its sub and no scopes."""
    assert check_claims(claims(), POLICY, NOW) == ValidClaims("user-1", None)


@pytest.mark.parametrize("iss", [ISSUER + "/", "https://other", None, 5])
def test_issuer_must_match_exactly(iss: object) -> None:
    """iss is compared exactly, as AWS does (a trailing slash differs)."""
    assert "iss" in refused(check_claims(claims(iss=iss), POLICY, NOW))


@pytest.mark.parametrize("aud", ["client-a", "client-b", ["other", "client-b"], ["client-a"]])
def test_audience_one_of(aud: object) -> None:
    """aud, a string or a list, must hold one of the configured audiences."""
    assert isinstance(check_claims(claims(aud=aud), POLICY, NOW), ValidClaims)


@pytest.mark.parametrize("aud", ["other", [], ["x", "y"], 5, ["client-a", 5]])
def test_wrong_audience_is_refused(aud: object) -> None:
    """An aud of none of the audiences, or of the wrong type, is refused."""
    assert "aud" in refused(check_claims(claims(aud=aud), POLICY, NOW))


def test_client_id_is_checked_only_without_aud() -> None:
    """As AWS: client_id stands in for a missing aud; with aud present, aud decides."""
    assert isinstance(
        check_claims(claims(aud=None, client_id="client-b"), POLICY, NOW), ValidClaims
    )
    assert refused(check_claims(claims(aud=None, client_id="x"), POLICY, NOW))
    assert refused(check_claims(claims(aud=None), POLICY, NOW))
    assert refused(check_claims(claims(aud="x", client_id="client-a"), POLICY, NOW))


def test_cognito_access_token_uses_client_id() -> None:
    """With token_use access, client_id is the audience and token_use must say access."""
    policy = ClaimsPolicy(issuer=ISSUER, audiences=frozenset({"client-a"}), token_use="access")
    access = claims(aud=None, client_id="client-a", token_use="access")
    assert isinstance(check_claims(access, policy, NOW), ValidClaims)
    assert "client_id" in refused(check_claims({**access, "client_id": "x"}, policy, NOW))
    # An id token has the client in aud, not client_id: refused for an access policy.
    id_token = claims(token_use="id")
    assert refused(check_claims(id_token, policy, NOW))


@pytest.mark.parametrize(("use", "expected"), [("id", "id"), ("access", "id"), (None, "id")])
def test_token_use_must_match(use: str | None, expected: str) -> None:
    """With token_use id, an access token (or one without token_use) is refused."""
    policy = ClaimsPolicy(issuer=ISSUER, audiences=frozenset({"client-a"}), token_use="id")
    result = check_claims(claims(token_use=use), policy, NOW)
    if use == expected:
        assert isinstance(result, ValidClaims)
    else:
        assert "token_use" in refused(result)


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"exp": NOW}, "expired"),
        ({"exp": NOW - 1}, "expired"),
        ({"exp": None}, "exp"),
        ({"exp": "soon"}, "exp"),
        ({"exp": True}, "exp"),
        ({"exp": float("nan")}, "exp"),
        ({"nbf": NOW + 5}, "not valid yet"),
        ({"nbf": "x"}, "nbf"),
        ({"iat": NOW + 5}, "future"),
        ({"iat": [1]}, "iat"),
    ],
)
def test_time_claims(changes: dict[str, object], word: str) -> None:
    """exp must be in the future; nbf and iat, when present, must not be."""
    assert word in refused(check_claims(claims(**changes), POLICY, NOW))


def test_leeway_applies_to_exp_nbf_and_iat() -> None:
    """Within the leeway, an expired or early token still passes; beyond it, it does not."""
    policy = ClaimsPolicy(issuer=ISSUER, audiences=frozenset({"client-a"}), leeway=30)
    assert isinstance(check_claims(claims(exp=NOW - 29), policy, NOW), ValidClaims)
    assert refused(check_claims(claims(exp=NOW - 30), policy, NOW))
    assert isinstance(check_claims(claims(nbf=NOW + 30, iat=NOW + 30), policy, NOW), ValidClaims)
    assert refused(check_claims(claims(nbf=NOW + 31), policy, NOW))


@pytest.mark.parametrize("sub", [None, "", 5])
def test_sub_is_required(sub: object) -> None:
    """principalId is the sub claim, so a token without a string sub is refused."""
    assert "sub" in refused(check_claims(claims(sub=sub), POLICY, NOW))


@pytest.mark.parametrize(
    ("changes", "scopes"),
    [
        ({}, None),
        ({"scope": "read write"}, ["read", "write"]),
        ({"scope": ""}, []),
        ({"scp": ["read", "write"]}, ["read", "write"]),
        ({"scp": "read write"}, ["read", "write"]),
        ({"scope": "a", "scp": ["b"]}, ["a"]),
    ],
)
def test_scopes_from_scope_or_scp(changes: dict[str, object], scopes: list[str] | None) -> None:
    """scope is space-separated; scp is a list (or a string); scope wins when both exist."""
    assert token_scopes(claims(**changes)) == scopes


@pytest.mark.parametrize("changes", [{"scope": 5}, {"scp": [1]}, {"scp": {"a": 1}}])
def test_malformed_scope_claims_are_refused(changes: dict[str, object]) -> None:
    """A scope claim of another type makes the token invalid."""
    reason = refused(check_claims(claims(**changes), POLICY, NOW))
    assert "neither a string nor a list of strings" in reason


def test_required_scopes_need_at_least_one() -> None:
    """As AWS's authorization scopes: one of the required scopes is enough."""
    policy = ClaimsPolicy(
        issuer=ISSUER,
        audiences=frozenset({"client-a"}),
        required_scopes=frozenset({"chat/read", "chat/admin"}),
    )
    ok = check_claims(claims(scope="openid chat/read"), policy, NOW)
    assert ok == ValidClaims("user-1", ["openid", "chat/read"])
    assert "scope" in refused(check_claims(claims(scope="openid"), policy, NOW))
    assert "scope" in refused(check_claims(claims(), policy, NOW))
    assert isinstance(check_claims(claims(scp=["chat/admin"]), policy, NOW), ValidClaims)


def test_context_shape() -> None:
    """principalId and integrationLatency as a REQUEST authorizer's, claims under jwt."""
    payload = claims(scope="a b", groups=["x"])
    result = check_claims(payload, POLICY, NOW)
    assert isinstance(result, ValidClaims)
    context = jwt_authorizer_context(result, payload, 7)
    assert context == {
        "principalId": "user-1",
        "integrationLatency": 7,
        "jwt": {"claims": payload, "scopes": ["a", "b"]},
    }
    jwt_part = context["jwt"]
    assert isinstance(jwt_part, dict)
    assert jwt_part["claims"] is not payload


@given(
    st.dictionaries(
        st.sampled_from(["iss", "sub", "aud", "client_id", "exp", "nbf", "iat", "scope", "scp"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.lists(st.text()),
    )
)
def test_any_claims_give_a_decision(payload: dict[str, object]) -> None:
    """Whatever the payload holds, the checks decide without raising."""
    result = check_claims(payload, POLICY, NOW)
    assert isinstance(result, ValidClaims | InvalidClaims)

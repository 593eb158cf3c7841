"""Tests for wsgate.core.bearer: where the JWT authorizer finds its token."""

from __future__ import annotations

import pytest

from tests.core.requests import make_request
from wsgate.core.bearer import bearer_token, find_token
from wsgate.core.identity import IdentitySource


HEADER = IdentitySource("header", "Authorization")
QUERY = IdentitySource("querystring", "token")


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("abc.def.ghi", "abc.def.ghi"),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("  abc  ", "abc"),
        ("Bearer", None),
        ("Bearer   ", None),
        ("", None),
        ("   ", None),
        ("Token abc", "Token abc"),
    ],
)
def test_bearer_prefix_is_optional(value: str, token: str | None) -> None:
    """The token may come alone or after `Bearer ` (any case); a bare scheme is no token."""
    assert bearer_token(value) == token


def test_token_from_the_first_source_that_has_one() -> None:
    """Sources are tried in order; an absent or empty one is skipped."""
    request = make_request(
        headers=(("authorization", "Bearer from-header"),), query=(("token", "from-query"),)
    )
    assert find_token([HEADER, QUERY], request) == "from-header"
    assert find_token([QUERY, HEADER], request) == "from-query"
    only_query = make_request(headers=(("Authorization", "Bearer "),), query=(("token", "q"),))
    assert find_token([HEADER, QUERY], only_query) == "q"


def test_no_token_anywhere_is_none() -> None:
    """Without a usable value in any source there is no token."""
    assert find_token([HEADER, QUERY], make_request()) is None
    assert find_token([HEADER], make_request(query=(("token", "q"),))) is None
    assert find_token([], make_request(headers=(("Authorization", "x"),))) is None

"""`${env:NAME}` and `${env:NAME, default}` interpolation in the raw config tree."""

from __future__ import annotations

import pytest

from wsgate.config.env import interpolate_env
from wsgate.exceptions import ConfigError


def test_reference_is_replaced() -> None:
    """A whole-string reference becomes the variable's value, still a string."""
    tree = {"api": {"idle_timeout": "${env:IDLE}"}}
    assert interpolate_env(tree, {"IDLE": "30"}) == {"api": {"idle_timeout": "30"}}


def test_default_used_when_variable_is_missing() -> None:
    """The default after the comma is used, without surrounding spaces."""
    tree = {"registry": {"url": "redis://${env:HOST, 127.0.0.1}:6379"}}
    assert interpolate_env(tree, {}) == {"registry": {"url": "redis://127.0.0.1:6379"}}


def test_variable_wins_over_default() -> None:
    """A set variable is used even when a default is given, even an empty one."""
    assert interpolate_env("${env:HOST, 127.0.0.1}", {"HOST": "redis"}) == "redis"
    assert interpolate_env("${env:HOST, 127.0.0.1}", {"HOST": ""}) == ""


def test_empty_default() -> None:
    """`${env:NAME,}` defaults to the empty string."""
    assert interpolate_env("a${env:NAME,}b", {}) == "ab"


def test_several_references_in_one_string() -> None:
    """Every reference in a string is replaced."""
    text = "redis://${env:HOST, localhost}:${env:PORT}/${env:DB, 0}"
    assert interpolate_env(text, {"PORT": "6380", "DB": "2"}) == "redis://localhost:6380/2"


def test_lists_and_non_strings() -> None:
    """Strings in lists are replaced; numbers, booleans, null and keys are left alone."""
    tree = {"${env:K}": [1, True, None, "${env:V}"], "n": 2.5}
    assert interpolate_env(tree, {"K": "x", "V": "v"}) == {
        "${env:K}": [1, True, None, "v"],
        "n": 2.5,
    }


def test_text_without_references_is_unchanged() -> None:
    """Dollar signs that are not env references stay as they are."""
    assert interpolate_env("$request.body.action", {}) == "$request.body.action"
    assert interpolate_env("${stage}", {}) == "${stage}"


def test_missing_variable_names_key_path_and_variable() -> None:
    """A missing variable without default is an error naming the key path and the name."""
    tree = {"registry": {"url": "redis://${env:REDIS_HOST}:6379"}}
    with pytest.raises(ConfigError) as info:
        interpolate_env(tree, {})
    assert str(info.value) == (
        "registry.url: environment variable REDIS_HOST is not set "
        "(referenced as '${env:REDIS_HOST}' without a default)"
    )


def test_missing_variable_inside_a_list_names_the_index() -> None:
    """List items appear in the key path as [index]."""
    tree = {"authorizer": {"identity_source": ["a", "${env:SRC}"]}}
    with pytest.raises(ConfigError, match=r"^authorizer\.identity_source\[1\]: .* SRC "):
        interpolate_env(tree, {})


def test_path_argument_prefixes_the_key_path() -> None:
    """The path argument is where the given subtree sits."""
    with pytest.raises(ConfigError, match=r"^server\.host: "):
        interpolate_env({"host": "${env:H}"}, {}, "server")


@pytest.mark.parametrize("text", ["${env:}", "${env:1ABC}", "${env:A B}", "${env:A-B, x}"])
def test_malformed_reference(text: str) -> None:
    """A reference whose name is not a variable name is an error."""
    with pytest.raises(ConfigError, match=r"^api\.name: malformed environment reference"):
        interpolate_env({"api": {"name": text}}, {"A": "a"})


def test_unterminated_reference() -> None:
    """`${env:` without a closing brace is an error, not literal text."""
    with pytest.raises(ConfigError, match=r"^api\.name: unterminated environment reference"):
        interpolate_env({"api": {"name": "x${env:A"}}, {"A": "a"})

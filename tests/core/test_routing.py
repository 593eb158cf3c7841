"""Tests for wsgate.core.routing."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core import routing
from wsgate.core.routing import (
    choose_route,
    compile_selection_expression,
    render_value,
    validate_route_key,
)


BODY = json.dumps(
    {
        "action": "sendmessage",
        "service": "chat",
        "data": {"type": "join", "n": 3, "f": 1.5, "ok": True, "no": False, "nil": None},
        "items": [1, "a", None, True, {"k": "v"}],
        "a.b": "dotted",
        "$type": "dollar",
        "empty": {},
        "count": 7,
        "ratio": 0.25,
        "flag": True,
        "off": False,
        "nothing": None,
        "list": ["x", 2],
        "obj": {"k": 1},
    }
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$request.body.action", "sendmessage"),
        ("${request.body.action}", "sendmessage"),
        ("$request.body.data.type", "join"),
        ("$request.body.data.n", "3"),
        ("$request.body.data.f", "1.5"),
        ("$request.body.data.ok", "true"),
        ("$request.body.data.no", "false"),
        ("$request.body.data.nil", ""),
        ("$request.body.data.missing", ""),
        ("$request.body.action.deeper", ""),
        ("$request.body.items", "[1, a, null, true, {k=v}]"),
        ("$request.body.count", "7"),
        ("$request.body.ratio", "0.25"),
        ("$request.body.flag", "true"),
        ("$request.body.off", "false"),
        ("$request.body.nothing", ""),
        ("$request.body.absent", ""),
        ("$request.body.list", "[x, 2]"),
        ("$request.body.obj", "{k=1}"),
        ("$request.body.items[1]", "a"),
        ("$request.body.items[-1].k", "v"),
        ("$request.body.items[9]", ""),
        ("$request.body.data[0]", ""),
        ("$request.body.empty", "{}"),
        ("$request.body['a.b']", "dotted"),
        ('$request.body["$type"]', "dollar"),
        ("$request.body['data']['type']", "join"),
        ("${request.body.service}/${request.body.action}", "chat/sendmessage"),
        ("v1-${request.body.data.type}-${request.body.missing}!", "v1-join-!"),
        ("action", "action"),
        ("\\$default", "$default"),
        ("a\\b", "a\\b"),
        ("price: \\${request.body.action}", "price: ${request.body.action}"),
    ],
)
def test_select(expression: str, expected: str) -> None:
    """Each supported form evaluates to the documented key."""
    assert compile_selection_expression(expression).select(BODY) == expected


@pytest.mark.parametrize(
    "body", ["not json", "", "[1, 2]", '"action"', "42", "null", '{"action": ', "{'action': 'x'}"]
)
def test_non_object_bodies_render_empty(body: str) -> None:
    """Non-JSON bodies and JSON that is not an object select the empty key."""
    assert compile_selection_expression("$request.body.action").select(body) == ""
    assert compile_selection_expression("$request.body.a.b").select(body) == ""
    assert compile_selection_expression("x/${request.body.action}").select(body) == "x/"


def test_static_expression_ignores_body() -> None:
    """A static expression routes every message, JSON or not, to its text."""
    selector = compile_selection_expression("action")
    assert selector.select("not json") == "action"
    assert selector.select('{"action": "other"}') == "action"


def test_evaluation_is_not_recursive() -> None:
    """A value that looks like an expression is returned literally."""
    body = json.dumps({"action": "${request.body.other}", "other": "x"})
    assert compile_selection_expression("$request.body.action").select(body) == (
        "${request.body.other}"
    )


def test_repr_names_the_expression() -> None:
    """The selector's repr shows the source expression."""
    assert "$request.body.action" in repr(compile_selection_expression("$request.body.action"))


class CountingJson:
    """Stands in for the orjson module and counts loads calls."""

    def __init__(self) -> None:
        self.loads_calls = 0
        self.JSONDecodeError = orjson.JSONDecodeError
        self.dumps = orjson.dumps

    def loads(self, data: str) -> Any:
        self.loads_calls += 1
        return orjson.loads(data)


@pytest.mark.parametrize(
    "expression",
    [
        "$request.body.action",
        "$request.body.data.type",
        "${request.body.service}/${request.body.action}/${request.body.data.type}",
    ],
)
@pytest.mark.pure_python
def test_body_is_parsed_once(monkeypatch: pytest.MonkeyPatch, expression: str) -> None:
    """select parses the body exactly once however many variables the expression has."""
    counting = CountingJson()
    selector = compile_selection_expression(expression)
    monkeypatch.setattr(routing, "orjson", counting)
    selector.select(BODY)
    assert counting.loads_calls == 1


@pytest.mark.pure_python
def test_static_expression_does_not_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """A static expression never parses the body."""
    counting = CountingJson()
    selector = compile_selection_expression("\\$default")
    monkeypatch.setattr(routing, "orjson", counting)
    selector.select(BODY)
    assert counting.loads_calls == 0


def test_single_key_uses_the_fast_path() -> None:
    """$request.body.X compiles to a selector that looks up one key without a path walk."""
    selector = compile_selection_expression("$request.body.action")
    assert type(selector) is not type(compile_selection_expression("$request.body.a.b"))
    assert type(selector) is type(compile_selection_expression("${request.body.action}"))


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty"),
        ("$request.body", "a path is needed"),
        ("${request.body}", "a path is needed"),
        ("$request.body.", "expected a key name"),
        ("$request.body..action", "recursive descent"),
        ("$request.body[*]", "wildcards"),
        ("$request.body.items[?(@.a)]", "wildcards"),
        ("$request.body['unclosed", "expected ['key']"),
        ("$default", "'\\$default'"),
        ("$connect", "write '\\$'"),
        ("${request.header.x}", "${request.body.<path>}"),
        ("${context.routeKey}", "${request.body.<path>}"),
        ("a/${request.body.action", "missing '}'"),
        ("$request.body.a/$request.body.b", "${request.body.a}/${request.body.b}"),
        ("$request.body.a b", "unexpected character ' '"),
        ("$request.body.a}", "unexpected character '}'"),
        ("$request.bodyx", "unexpected character 'x'"),
    ],
)
def test_invalid_expressions(expression: str, fragment: str) -> None:
    """Malformed expressions raise ValueError naming the expression and the problem."""
    with pytest.raises(ValueError) as info:
        compile_selection_expression(expression)
    message = str(info.value)
    assert repr(expression) in message
    assert fragment in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", "x"),
        ("", ""),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (18446744073709551615, "18446744073709551615"),
        (1.5, "1.5"),
        (1e20, "1e+20"),
        ([], "[]"),
        (["a", 1, None, False], "[a, 1, null, false]"),
        ([[1, 2], {"k": [3]}], "[[1, 2], {k=[3]}]"),
        ({"a": 1, "b": "x"}, "{a=1, b=x}"),
    ],
)
def test_render_value(value: object, expected: str) -> None:
    """Found values render as documented."""
    assert render_value(value) == expected


# -- property tests against a reference evaluation ------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(["action", "a", "b", ""])
objects = st.dictionaries(
    keys, json_values | st.dictionaries(keys, json_values, max_size=3), max_size=4
)


def reference_render(value: object, nested: bool = False) -> str:
    """An independent statement of the rendering rules."""
    if value is None:
        return "null" if nested else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(reference_render(item, True) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k}={reference_render(v, True)}" for k, v in value.items()) + "}"


def reference_select(data: object, path: list[str]) -> str:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return ""
        data = data[key]
    return reference_render(data)


with_action = st.builds(lambda rest, value: {**rest, "action": value}, objects, json_values)


@given(objects | with_action)
def test_single_key_matches_reference(data: dict[str, object]) -> None:
    """$request.body.action agrees with the reference on any JSON object."""
    body = json.dumps(data)
    assert compile_selection_expression("$request.body.action").select(body) == (
        reference_select(data, ["action"])
    )


@given(objects, keys, keys)
def test_nested_path_matches_reference(data: dict[str, object], first: str, second: str) -> None:
    """A two-step path agrees with the reference on any JSON object."""
    body = json.dumps(data)
    expression = f"$request.body['{first}']['{second}']"
    assert compile_selection_expression(expression).select(body) == (
        reference_select(data, [first, second])
    )


@given(objects)
def test_template_matches_reference(data: dict[str, object]) -> None:
    """A mixed template agrees with the reference on any JSON object."""
    body = json.dumps(data)
    expected = f"{reference_select(data, ['a'])}/{reference_select(data, ['b', 'action'])}$"
    selector = compile_selection_expression("${request.body.a}/${request.body.b.action}\\$")
    assert selector.select(body) == expected


@given(st.text() | json_values.map(json.dumps))
def test_select_never_raises(body: str) -> None:
    """Any text frame, JSON or not, selects some string without raising."""
    for expression in (
        "$request.body.action",
        "$request.body.a.b[0]",
        "${request.body.a}/${request.body.b}",
        "static",
    ):
        assert isinstance(compile_selection_expression(expression).select(body), str)


@given(st.text(alphabet="ab${}.[]'\\ \"*0", max_size=16))
def test_compile_raises_only_value_error(expression: str) -> None:
    """Compiling arbitrary text either succeeds or raises ValueError naming it."""
    try:
        selector = compile_selection_expression(expression)
    except ValueError as error:
        assert repr(expression) in str(error)
    else:
        assert isinstance(selector.select('{"a": {"b": "x"}}'), str)


# -- choose_route and validate_route_key --------------------------------------------------

ROUTES = frozenset({"$connect", "$disconnect", "$default", "sendmessage", "chat/join"})


@pytest.mark.parametrize(
    ("key", "routes", "expected"),
    [
        ("sendmessage", ROUTES, "sendmessage"),
        ("chat/join", ROUTES, "chat/join"),
        ("SendMessage", ROUTES, "$default"),
        ("unknown", ROUTES, "$default"),
        ("", ROUTES, "$default"),
        ("$connect", ROUTES, "$default"),
        ("$disconnect", ROUTES, "$default"),
        ("$default", ROUTES, "$default"),
        ("unknown", ROUTES - {"$default"}, None),
        ("$connect", ROUTES - {"$default"}, None),
        ("sendmessage", ROUTES - {"$default"}, "sendmessage"),
        ("x", frozenset(), None),
    ],
)
def test_choose_route(key: str, routes: frozenset[str], expected: str | None) -> None:
    """Exact match, else $default, else None; $-keys never match directly."""
    assert choose_route(key, routes) == expected


def test_choose_route_accepts_a_dict() -> None:
    """Any container of route keys works, e.g. a dict of route configs."""
    assert choose_route("a", {"a": object()}) == "a"


@pytest.mark.parametrize("key", ["$connect", "$disconnect", "$default", "sendmessage", "a$b"])
def test_validate_route_key_accepts(key: str) -> None:
    """Reserved keys and plain custom keys are valid."""
    validate_route_key(key)


@pytest.mark.parametrize("key", ["", "$custom", "$Default", "$"])
def test_validate_route_key_rejects(key: str) -> None:
    """Empty keys and other $-keys are rejected with the key in the message."""
    with pytest.raises(ValueError) as info:
        validate_route_key(key)
    assert repr(key) in str(info.value)

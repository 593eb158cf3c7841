"""Route selection: compile a ``RouteSelectionExpression`` once, evaluate it per message.

Supported expressions (CONTRACT §3):

* ``$request.body.a.b`` — a JSONPath into the JSON body; segments are ``.name``,
  ``['name']`` / ``["name"]`` (needed for keys with ``.``, ``$``, spaces or brackets) and
  ``[N]`` (array index, negative counts from the end);
* templates mixing static text and ``${request.body.<path>}`` variables, e.g.
  ``${request.body.service}/${request.body.action}``;
* a pure static value (``action``) that routes every message to that key;
* ``\\$`` for a literal dollar, e.g. ``\\$default``.

Wildcards, filters and recursive descent are rejected. Evaluation happens once: a value
that looks like an expression is not evaluated again.
"""

from __future__ import annotations

import re
from collections.abc import Container

import orjson


__all__ = [
    "RouteSelector",
    "choose_route",
    "compile_selection_expression",
    "render_value",
    "validate_route_key",
]

_Path = tuple[str | int, ...]

_RESERVED_KEYS = frozenset({"$connect", "$disconnect", "$default"})
_UNBRACED = "$request.body"
_BRACED = "${request.body"
# A dotted name stops at the next separator; `$` is excluded so that forgetting braces in
# `$request.body.a/$request.body.b` is an error instead of a silently odd path.
_DOT_NAME = re.compile(r"\.([^.\[\]{}\s$]+)")
_BRACKET = re.compile(r"""\[(?:'([^']*)'|"([^"]*)"|(-?[0-9]+))\]""")
_NOT_JSON = object()


def render_value(value: object) -> str:
    """Render a value found in the body as a route key.

    Strings as is; integers and floats as JSON text (``3``, ``1.5``); booleans as
    ``true``/``false``; null (and a missing path) as ``""``. Arrays render like Java's
    ``List.toString`` — ``[item1, item2]`` (CONTRACT §3) — and objects like Java's
    ``Map.toString`` — ``{a=1, b=x}`` (our choice: AWS's exact rendering is unconfirmed);
    inside them strings are unquoted and null is ``null``.
    """
    if type(value) is str:
        return value
    if value is None:
        return ""
    return _render_nested(value)


def _render_nested(value: object) -> str:
    if type(value) is str:
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is list:
        return "[" + ", ".join(_render_nested(item) for item in value) + "]"
    if type(value) is dict:
        return "{" + ", ".join(f"{key}={_render_nested(v)}" for key, v in value.items()) + "}"
    return orjson.dumps(value).decode()


def _lookup(data: object, path: _Path) -> object:
    """Follow ``path`` into parsed JSON; a missing step yields None (rendered ``""``)."""
    for step in path:
        if isinstance(step, str):
            if type(data) is not dict:
                return None
            data = data.get(step)
        else:
            if type(data) is not list:
                return None
            try:
                data = data[step]
            except IndexError:
                return None
    return data


class RouteSelector:
    """A compiled selection expression; ``select(body)`` returns the route key to look up."""

    __slots__ = ("expression",)

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def select(self, body: str) -> str:
        """Evaluate the expression on a text frame; never raises for any ``body``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r})"


class _StaticSelector(RouteSelector):
    __slots__ = ("_key",)

    def __init__(self, expression: str, key: str) -> None:
        super().__init__(expression)
        self._key = key

    def select(self, body: str) -> str:
        return self._key


class _KeySelector(RouteSelector):
    """The common ``$request.body.action``: one parse, one dict lookup."""

    __slots__ = ("_name",)

    def __init__(self, expression: str, name: str) -> None:
        super().__init__(expression)
        self._name = name

    def select(self, body: str) -> str:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        if type(data) is not dict:
            return ""
        value = data.get(self._name)
        if type(value) is str:
            return value
        return render_value(value)


class _TemplateSelector(RouteSelector):
    """Static text and paths; the body is parsed once however many variables there are."""

    __slots__ = ("_parts",)

    def __init__(self, expression: str, parts: tuple[str | _Path, ...]) -> None:
        super().__init__(expression)
        self._parts = parts

    def select(self, body: str) -> str:
        try:
            data: object = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = _NOT_JSON
        out = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
            elif data is not _NOT_JSON:
                out.append(render_value(_lookup(data, part)))
        return "".join(out)


def _error(expr: str, position: int, problem: str) -> ValueError:
    return ValueError(
        f"invalid route selection expression {expr!r} at position {position}: {problem}"
    )


def _parse_path(expr: str, start: int, braced: bool) -> tuple[_Path, int]:
    """Parse path segments from ``start``; return them and the position after the last."""
    steps: list[str | int] = []
    position = start
    end = len(expr)
    while position < end:
        char = expr[position]
        if braced and char == "}":
            break
        if char == ".":
            if expr.startswith("..", position):
                raise _error(expr, position, "recursive descent '..' is not supported")
            match = _DOT_NAME.match(expr, position)
            if match is None:
                raise _error(
                    expr,
                    position + 1,
                    "expected a key name after '.' (use ['...'] for keys with "
                    "'.', '$', spaces or brackets)",
                )
            steps.append(match.group(1))
        elif char == "[":
            match = _BRACKET.match(expr, position)
            if match is None:
                raise _error(
                    expr,
                    position,
                    "expected ['key'], [\"key\"] or [index]; wildcards and filters "
                    "are not supported",
                )
            name, quoted, index = match.groups()
            if index is not None:
                steps.append(int(index))
            else:
                steps.append(name if name is not None else quoted)
        else:
            hint = " (to combine values use ${request.body.a}/${request.body.b})"
            raise _error(expr, position, f"unexpected character {char!r}{hint}")
        position = match.end()
    if not steps:
        raise _error(expr, start, "a path is needed after 'request.body', e.g. .action")
    return tuple(steps), position


def _parse_template(expr: str) -> tuple[str | _Path, ...]:
    parts: list[str | _Path] = []
    literal: list[str] = []
    position = 0
    end = len(expr)
    while position < end:
        char = expr[position]
        if char == "\\" and expr.startswith("$", position + 1):
            literal.append("$")
            position += 2
            continue
        if char != "$":
            literal.append(char)
            position += 1
            continue
        if not expr.startswith(_BRACED, position):
            raise _error(
                expr,
                position,
                "a '$' must start ${request.body.<path>} (or the whole expression "
                "$request.body.<path>); write '\\$' for a literal '$', e.g. '\\$default'",
            )
        path, position = _parse_path(expr, position + len(_BRACED), braced=True)
        if position >= end:
            raise _error(expr, position, "missing '}' to close '${'")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(path)
        position += 1  # the closing brace
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def compile_selection_expression(expr: str) -> RouteSelector:
    """Compile a route selection expression (see the module docstring for the forms).

    Raises:
        ValueError: the expression is empty or malformed; the message names it, the
            position and the problem.
    """
    if not expr:
        raise ValueError("invalid route selection expression '': it is empty")
    if expr.startswith(_UNBRACED) and not expr.startswith(_BRACED):
        path, _ = _parse_path(expr, len(_UNBRACED), braced=False)
        parts: tuple[str | _Path, ...] = (path,)
    else:
        parts = _parse_template(expr)
    # Literal runs are merged while parsing, so a static expression is one string part.
    if len(parts) == 1:
        part = parts[0]
        if isinstance(part, str):
            return _StaticSelector(expr, part)
        if len(part) == 1 and isinstance(part[0], str):
            return _KeySelector(expr, part[0])
    return _TemplateSelector(expr, parts)


def choose_route(key: str, routes: Container[str]) -> str | None:
    """Pick the route for a selected ``key``: the key itself, else ``$default``, else None.

    A key starting with ``$`` never selects a route directly, so a body value such as
    ``"$connect"`` or ``"$disconnect"`` cannot reach those routes (it goes to
    ``$default``). None means the client gets the Forbidden frame.
    """
    if key and key[0] != "$" and key in routes:
        return key
    if "$default" in routes:
        return "$default"
    return None


def validate_route_key(key: str) -> None:
    """Check a configured route key.

    Raises:
        ValueError: the key is empty, or starts with ``$`` without being ``$connect``,
            ``$disconnect`` or ``$default``.
    """
    if not key:
        raise ValueError("invalid route key '': route keys cannot be empty")
    if key[0] == "$" and key not in _RESERVED_KEYS:
        raise ValueError(
            f"invalid route key {key!r}: keys starting with '$' are reserved; "
            "only $connect, $disconnect and $default exist"
        )

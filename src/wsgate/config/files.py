"""Load ``wsgate.yaml`` into a :class:`~wsgate.config.model.GatewayConfig`.

Loading is a pure function of the file's text, its folder and the environment: parse the
YAML, replace ``${env:...}`` references, validate with the models, then resolve relative
paths against the file's folder. Every problem becomes one :class:`ConfigError` whose
message names the file, the key path and what was expected, one line per problem::

    wsgate.yaml: api.idle_timeout: expected a number greater than 0, got 'soon'
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from wsgate.config.env import interpolate_env, key_path
from wsgate.config.model import (
    GatewayConfig,
    JwtAuthorizerConfig,
    LocatedValueError,
    RouteConfig,
)
from wsgate.exceptions import ConfigError


__all__ = [
    "compose_yaml",
    "construct_yaml",
    "format_error",
    "load_config",
    "load_document",
    "parse_config",
    "refuse_duplicate_keys",
    "resolve_paths",
]


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate the config file at ``path``.

    Args:
        path: the ``wsgate.yaml`` file; error messages name it as given.
        environ: variables for ``${env:...}`` references; None means ``os.environ``.

    Raises:
        ConfigError: the file cannot be read, is not valid YAML, or does not describe a
            valid gateway.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read: {exc.strerror or exc}") from None
    return parse_config(text, source, path.absolute().parent, environ)


def parse_config(
    text: str,
    source: str,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Validate config ``text``; an empty text gives the defaults.

    Args:
        text: the YAML document.
        source: how error messages name the document, usually its file name.
        base_dir: the folder relative paths (``handlers.path``, ``server.tls_cert``,
            ``server.tls_key``, ``authorizer.jwks_file``, ``functions.*.code``) are
            resolved against.
        environ: variables for ``${env:...}`` references; None means ``os.environ``.

    Raises:
        ConfigError: one message, one line per problem, each naming ``source`` and the
            key path.
    """
    return load_document(compose_yaml(text, source), source, base_dir, environ)


def load_document(
    node: yaml.Node | None,
    source: str,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Validate a wsgate.yaml already parsed (:func:`compose_yaml`'s ``node``), as
    :func:`parse_config` validates its text."""
    tree = construct_yaml(node, _Loader, source)
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError(
            f"{source}: expected a mapping of sections at the top level "
            f"(api, server, ...), got {_kind(tree)}"
        )
    try:
        tree = interpolate_env(tree, os.environ if environ is None else environ)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        config = GatewayConfig.model_validate(tree)
    except ValidationError as exc:
        lines = [f"{source}: {format_error(error)}" for error in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from None
    return resolve_paths(config, base_dir)


def resolve_paths(config: GatewayConfig, base_dir: Path) -> GatewayConfig:
    """Make the file-relative paths absolute (the models are frozen: copy)."""
    handlers = config.handlers.model_copy(update={"path": base_dir / config.handlers.path})
    server = config.server
    updates = {
        name: base_dir / value
        for name, value in (("tls_cert", server.tls_cert), ("tls_key", server.tls_key))
        if value is not None
    }
    if updates:
        server = server.model_copy(update=updates)
    authorizer = config.authorizer
    if isinstance(authorizer, JwtAuthorizerConfig) and authorizer.jwks_file is not None:
        authorizer = authorizer.model_copy(update={"jwks_file": base_dir / authorizer.jwks_file})
    functions = {
        name: function.model_copy(update={"code": base_dir / function.code})
        for name, function in config.functions.items()
    }
    return config.model_copy(
        update={
            "handlers": handlers,
            "server": server,
            "authorizer": authorizer,
            "functions": functions,
        }
    )


# --- YAML ------------------------------------------------------------------------------


def compose_yaml(text: str, source: str) -> yaml.Node | None:
    """Parse YAML (or JSON) ``text`` into its node graph: the one parse of a file, which
    each reader then constructs with the tags it takes (:func:`construct_yaml`). None
    for an empty document.

    Raises:
        ConfigError: a syntax error, naming ``source`` with the line and column.
    """
    loader = _Loader(text)
    loader.name = source  # what the marks name
    try:
        with _config_errors(source):
            node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def construct_yaml(node: yaml.Node | None, loader: type[yaml.SafeLoader], source: str) -> object:
    """The values of a parsed document, built by ``loader``'s constructors (what
    ``yaml.load`` with that loader gives for the text ``node`` was parsed from).

    Raises:
        ConfigError: a tag ``loader`` does not know, or a key given twice; naming
            ``source`` with the line and column.
    """
    if node is None:
        return None
    # Constructing flattens ``<<`` merge keys into the nodes; doing it again finds them
    # flattened and builds the same values, so one parse serves several readers.
    constructor = loader("")
    try:
        with _config_errors(source):
            return constructor.construct_document(node)
    finally:
        constructor.dispose()


def refuse_duplicate_keys(node: yaml.MappingNode) -> None:
    """Raise when a key is given twice in one mapping (YAML would keep the last one);
    ``<<`` merge keys may repeat."""
    seen: set[tuple[str, str]] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key_node.value!r}",
                key_node.start_mark,
            )
        seen.add(key)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        refuse_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)


@contextmanager
def _config_errors(source: str) -> Iterator[None]:
    """A YAML error inside, as the ``ConfigError`` naming ``source`` (and the line and
    column, when YAML marked them)."""
    try:
        yield
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_error(exc, source)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def _yaml_error(exc: yaml.MarkedYAMLError, source: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    if mark is None:
        return f"{source}: invalid YAML: {problem}"
    return f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}"


# --- validation errors -----------------------------------------------------------------


def format_error(error: ErrorDetails) -> str:
    """One line ``key.path: problem`` for one pydantic error."""
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind = error["type"]
    if kind == "union_tag_invalid":
        expected = str(error.get("ctx", {}).get("expected_tags", "")).replace(", ", " or ")
        given = error["input"].get("type") if isinstance(error["input"], dict) else None
        return f"{_path(loc + ('type',))}: expected {expected}, got {_repr(given)}"
    if kind in ("value_error", "assertion_error"):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, LocatedValueError):
            loc += cause.loc
        message = str(cause) if cause is not None else error["msg"]
        return f"{_path(loc)}: {message}"
    if kind == "extra_forbidden":
        known = _model_at(loc[:-1])
        names = ", ".join(known.model_fields) if known is not None else ""
        return f"{_path(loc)}: unknown key (known keys: {names})"
    if kind == "missing":
        return f"{_path(loc)}: required key is missing"
    if loc and loc[-1] == "[key]":
        return f"{_path(loc)}: expected a string as key, got {_repr(error['input'])}"
    expected = _expected_at(loc) or _lower_first(error["msg"])
    return f"{_path(loc)}: expected {expected}, got {_repr(error['input'])}"


def _path(loc: Sequence[int | str]) -> str:
    path = ""
    for index, part in enumerate(loc):
        if part != "[key]" and not _is_union_tag(loc[:index], part):
            path = key_path(path, part)
    return path or "(top level)"


def _repr(value: object) -> str:
    """Show a value the way YAML spells it where Python's repr would differ."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {_repr(value)}"


def _unwrap(tp: object) -> tuple[object, list[object], bool]:
    """Strip ``Annotated`` and ``| None``: (type, its constraint metadata, nullable)."""
    metadata: list[object] = []
    nullable = False
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp, *extra = get_args(tp)
            metadata.extend(extra)
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(members) != 1:
                return tp, metadata, nullable
            nullable = True
            tp = members[0]
        else:
            return tp, metadata, nullable


def _union_members(tp: object) -> dict[str, object]:
    """The members of a discriminated union by their ``Tag`` (empty for other types)."""
    if get_origin(tp) not in (Union, types.UnionType):
        return {}
    members: dict[str, object] = {}
    for member in get_args(tp):
        if get_origin(member) is Annotated:
            model, *extra = get_args(member)
            for item in extra:
                if isinstance(item, Tag):
                    members[item.tag] = model
    return members


def _is_union_tag(parent: Sequence[int | str], part: int | str) -> bool:
    """Whether ``part`` is the tag pydantic puts in the path below a discriminated union."""
    found = _walk(parent)
    return found is not None and str(part) in _union_members(found[0])


def _walk(loc: Sequence[int | str]) -> tuple[object, list[object], bool] | None:
    """Find the type at ``loc`` in the config models, or None if ``loc`` leaves them."""
    tp: object = GatewayConfig
    metadata: list[object] = []
    nullable = False
    for part in loc:
        members = _union_members(tp)
        if members:
            # A union's tag (``authorizer.jwt.issuer``) selects the member model.
            if str(part) not in members:
                return None
            tp, metadata = members[str(part)], []
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp, extra, nullable = _unwrap(field.annotation)
            metadata = [*field.metadata, *extra]
        elif get_origin(tp) in (dict, list):
            tp, metadata, nullable = _unwrap(get_args(tp)[-1])
        else:
            return None
    return tp, metadata, nullable


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    found = _walk(loc)
    if found is not None and isinstance(found[0], type) and issubclass(found[0], BaseModel):
        return found[0]
    return None


_TYPE_NAMES: dict[object, str] = {
    float: "a number",
    int: "an integer",
    str: "a string",
    bool: "true or false",
    Path: "a path",
}


def _expected_at(loc: Sequence[int | str]) -> str | None:
    """Describe what the key at ``loc`` accepts, e.g. ``a number greater than 0``."""
    found = _walk(loc)
    if found is None:
        return None
    tp, metadata, nullable = found
    if tp is RouteConfig:
        text = "module:function or a mapping with a 'handler' key"
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        text = "a mapping"
    elif get_origin(tp) is dict or _union_members(tp):
        text = "a mapping"
    elif get_origin(tp) is list:
        text = "a list"
        if any(isinstance(m, annotated_types.MinLen) and m.min_length > 0 for m in metadata):
            text = "a non-empty list"
    elif get_origin(tp) is Literal:
        text = " or ".join(repr(arg) for arg in get_args(tp))
    elif tp in _TYPE_NAMES:
        text = _TYPE_NAMES[tp] + _constraints(metadata)
        if tp is str and any(isinstance(m, annotated_types.MinLen) for m in metadata):
            text = "a non-empty string"
    else:
        return None
    return f"{text} or null" if nullable else text


def _constraints(metadata: Sequence[object]) -> str:
    bounds: dict[str, object] = {}
    for item in metadata:
        for name in ("gt", "ge", "lt", "le"):
            value = getattr(item, name, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                bounds[name] = _number(value)
    if "ge" in bounds and "le" in bounds:
        return f" from {bounds['ge']} to {bounds['le']}"
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    return "".join(f" {words[name]} {value}" for name, value in bounds.items())


def _number(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

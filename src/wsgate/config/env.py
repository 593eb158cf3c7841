"""``${env:NAME}`` and ``${env:NAME, default}`` references in a raw config tree."""

from __future__ import annotations

import re
from collections.abc import Mapping

from wsgate.exceptions import ConfigError


__all__ = ["interpolate_env", "key_path"]

_REFERENCE = re.compile(r"\$\{env:([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_path(parent: str, key: object) -> str:
    """Return the dotted path of ``key`` under ``parent`` (list indexes as ``[i]``)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def interpolate_env(tree: object, environ: Mapping[str, str], path: str = "") -> object:
    """Return a copy of ``tree`` with environment references in its strings replaced.

    ``tree`` is what ``yaml.safe_load`` returned: mappings, lists and scalars. Only string
    values are rewritten (keys are not); a string may hold several references, e.g.
    ``redis://${env:HOST, 127.0.0.1}:${env:PORT, 6379}/0``. The result stays a string
    even when the whole value is one reference; the models convert it to their types.

    Args:
        tree: the raw config tree, or any part of it.
        environ: the variables references are resolved against.
        path: the key path of ``tree``, used in error messages.

    Raises:
        ConfigError: a variable without default is not set, or a reference is malformed;
            the message starts with the key path.
    """
    if isinstance(tree, dict):
        return {
            key: interpolate_env(value, environ, key_path(path, key)) for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [
            interpolate_env(value, environ, key_path(path, index))
            for index, value in enumerate(tree)
        ]
    if isinstance(tree, str):
        return _interpolate_string(tree, environ, path)
    return tree


def _interpolate_string(text: str, environ: Mapping[str, str], path: str) -> str:
    where = path or "(top level)"

    def replace(match: re.Match[str]) -> str:
        name, comma, default = match.group(1).partition(",")
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: malformed environment reference {match.group(0)!r}: "
                "expected ${env:NAME} or ${env:NAME, default}"
            )
        value = environ.get(name)
        if value is not None:
            return value
        if comma:
            return default.strip()
        raise ConfigError(
            f"{where}: environment variable {name} is not set "
            f"(referenced as {match.group(0)!r} without a default)"
        )

    result = _REFERENCE.sub(replace, text)
    leftover = _REFERENCE.sub("", text)
    if "${env:" in leftover:
        raise ConfigError(f"{where}: unterminated environment reference in {text!r}")
    return result

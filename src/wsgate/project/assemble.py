"""Build a wsgate config tree from a project file and validate it, naming the file's keys.

A translator sets each value of the tree together with the key path it came from in the
project file (its origin). When the models refuse a value, the error names that origin,
``template.yaml: Resources.ChatFunction.Properties.Timeout: ...``, not wsgate's key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from wsgate.config.files import format_error
from wsgate.config.model import GatewayConfig, LocatedValueError
from wsgate.exceptions import ConfigError
from wsgate.project.notices import Notice


if TYPE_CHECKING:
    from wsgate.project.tables import TableSpec


__all__ = ["TreeBuilder"]

Loc = tuple[str, ...]


class TreeBuilder:
    """A wsgate config tree being built, with the origin of every value and the notices."""

    def __init__(self, source: str) -> None:
        self.source = source
        """How error messages name the project file."""
        self.tree: dict[str, Any] = {}
        self.origins: dict[Loc, str] = {}
        self.files: dict[Loc, str] = {}
        """The file a value came from when it is not ``source`` (a wsgate.yaml's override)."""
        self.notices: list[Notice] = []
        self.unresolved: list[str] = []
        """References no source gave a value for, one error line each; the value stands
        as written meanwhile, so that every one is found in one pass."""
        self.tables: list[TableSpec] = []
        """The DynamoDB tables to create (``--create-resources``)."""

    def set(self, loc: Loc, value: object, origin: str, file: str | None = None) -> None:
        """Set the value at ``loc`` (e.g. ``("functions", "chat", "timeout")``), read at
        ``origin`` in ``file`` (default: the project file); what was below ``loc`` goes."""
        node = self.tree
        for part in loc[:-1]:
            node = node.setdefault(part, {})
        node[loc[-1]] = value
        for known in [k for k in self.origins if k[: len(loc)] == loc and k != loc]:
            del self.origins[known]
            self.files.pop(known, None)
        self.origins[loc] = origin
        if file is None:
            self.files.pop(loc, None)
        else:
            self.files[loc] = file

    def note(self, key: str, problem: str, instead: str, *, info: bool = False) -> None:
        """Record what cannot be honoured at ``key`` and what is done instead."""
        notice = Notice(key, problem, instead, "info" if info else "warning")
        if notice not in self.notices:
            self.notices.append(notice)

    def unresolvable(self, key: str, message: str) -> None:
        """Record a reference at ``key`` that nothing resolves."""
        line = f"{self.source}: {key}: {message}"
        if line not in self.unresolved:
            self.unresolved.append(line)

    def error(self, key: str, message: str) -> ConfigError:
        """An error that names the project file and ``key``."""
        return ConfigError(f"{self.source}: {key}: {message}")

    def validate(self) -> GatewayConfig:
        """Validate the tree; every problem is named by its origin in the project file.

        Raises:
            ConfigError: one line per problem.
        """
        try:
            return GatewayConfig.model_validate(self.tree)
        except ValidationError as exc:
            # An unresolved value may be what the models refuse: name it first.
            lines = [*self.unresolved, *(self._describe(error) for error in exc.errors())]
            raise ConfigError("\n".join(dict.fromkeys(lines))) from None

    def _describe(self, error: ErrorDetails) -> str:
        loc = tuple(str(part) for part in error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, LocatedValueError):
            loc += cause.loc
        override = self._override_file(loc)
        if override is not None:
            # A wsgate.yaml's own key: named as a wsgate.yaml's errors are.
            return f"{override}: {format_error(error)}"
        if error["type"] in ("value_error", "assertion_error") and cause is not None:
            message = str(cause)
        else:
            message = f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {error['input']!r}"
        return f"{self.source}: {self._origin(loc)}: {message}"

    def _override_file(self, loc: Loc) -> str | None:
        """The wsgate.yaml that set the value at ``loc`` (or above it), if one did."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.origins:
                return self.files.get(loc[:end])
        return None

    def _origin(self, loc: Loc) -> str:
        for end in range(len(loc), 0, -1):
            origin = self.origins.get(loc[:end])
            if origin is not None:
                return origin
        return "(wsgate) " + ".".join(loc)

"""Serverless Framework variables: ``${source:address, fallback}`` in serverless.yml values.

Sources resolved locally: ``self:`` (a path in this file), ``opt:stage`` and ``opt:region``
(the command line), ``sls:stage`` and ``sls:instanceId``, ``env:``, ``param:`` (``--param``,
then ``stages.<stage>.params``/``params.<stage>``, then their ``default``),
``file(path):address`` (YAML or JSON, relative to the service folder), ``aws:region``,
``aws:accountId``, ``aws:partition`` and ``strToBool(...)``. Sources that read a service
(``ssm:``, ``cf:``, ``s3:``, ``vault:``, ...) resolve through a fallback or ``--var``, which
gives the value of any variable by its text (``--var 'ssm:/chat/url=ws://x'``). Fallbacks
follow commas, in order: a quoted string, a number, ``true``/``false``, another variable
(with or without ``${}``). Variables nest (``${file(./config.${sls:stage}.json):key}``).

Values are resolved lazily, where they are read, so a variable in a part of the file
wsgate does not use never stops start-up.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from wsgate.config.env import key_path
from wsgate.exceptions import ConfigError
from wsgate.project.options import ProjectOptions
from wsgate.project.reads import note
from wsgate.project.yamlfile import read_text, read_yaml


__all__ = ["Variables"]

_SERVICES = {
    "ssm": "AWS Systems Manager Parameter Store",
    "cf": "another CloudFormation stack's outputs",
    "s3": "an object in S3",
    "vault": "HashiCorp Vault",
    "terraform": "a Terraform state",
    "doppler": "Doppler",
}
"""Sources that read a service, which wsgate does not call: the value comes from a
fallback or ``--var``."""
_MISSING: Any = object()
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class _Unresolved(Exception):
    """A source gave no value; the reason is kept for the error if no fallback gives one."""


class Variables:
    """The variables of one serverless.yml."""

    def __init__(
        self,
        document: dict[str, Any],
        source: str,
        base_dir: Path,
        options: ProjectOptions,
        unresolved: list[str] | None = None,
    ) -> None:
        self.document = document
        self.unresolved = unresolved
        """Where a variable no source resolves is recorded (its text standing for its
        value meanwhile); None: it is an error at once."""
        self.source = source
        self.base_dir = base_dir
        self.options = options
        self._active: list[str] = []
        self._files: dict[Path, object] = {}
        self._instance_id = secrets.token_hex(4)

    # --- public ---------------------------------------------------------------------------

    def get(self, path: str, default: Any = None) -> Any:
        """The resolved value at the dotted ``path`` of the file, or ``default``."""
        value = self._walk(self.document, path, "", "self")
        return default if value is _MISSING else value

    def resolve(self, value: object, key: str) -> Any:
        """``value`` with every variable resolved; ``key`` names it in errors."""
        if isinstance(value, dict):
            return {k: self.resolve(v, key_path(key, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, key_path(key, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self._string(value, key)
        return value

    def stage(self) -> str:
        """``--stage``, else ``provider.stage``, else ``dev`` (``${sls:stage}``)."""
        if self.options.stage is not None:
            return self.options.stage
        return str(self.get("provider.stage", "dev"))

    def region(self) -> str:
        """``--region``, else ``provider.region``, else the environment's, else
        ``us-east-1``."""
        configured = self.get("provider.region")
        return self.options.region_of(str(configured) if configured else None)

    # --- strings --------------------------------------------------------------------------

    def _string(self, text: str, key: str) -> Any:
        spans = _spans(text, self._error(key, f"unterminated variable in {text!r}"))
        if len(spans) == 1 and spans[0] == (0, len(text)):
            return self._expression(text[2:-1], key)
        parts, last = [], 0
        for start, end in spans:
            parts.append(text[last:start])
            value = self._expression(text[start + 2 : end - 1], key)
            if isinstance(value, dict | list):
                raise self._error(key, f"{text[start:end]} is not a string, inside {text!r}")
            parts.append(_text(value))
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def _expression(self, inner: str, key: str) -> Any:
        reasons = []
        for index, part in enumerate(_split_commas(inner)):
            try:
                return self._source(part.strip(), key, fallback=index > 0)
            except _Unresolved as exc:
                reasons.append(str(exc))
        error = self._error(key, f"cannot resolve ${{{inner}}}: {reasons[0]}")
        if self.unresolved is None:
            raise error
        if str(error) not in self.unresolved:
            self.unresolved.append(str(error))
        return f"${{{inner}}}"

    def _source(self, part: str, key: str, *, fallback: bool) -> Any:
        if part.startswith("${") and part.endswith("}"):
            value = self._string(part, key)
            if value is None:
                raise _Unresolved(f"{part} is null")
            return value
        if fallback:
            if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
                return part[1:-1]
            if part in ("true", "false"):
                return part == "true"
            if _NUMBER.fullmatch(part):
                return json.loads(part)
        if "${" in part:
            part = _text(self._string(part, key))
        if part in self.options.variables:
            return self.options.variables[part]
        name, colon, address = part.partition(":")
        if part.startswith("file("):
            return self._file(part, key)
        if part.startswith("strToBool(") and part.endswith(")"):
            return _to_bool(part[len("strToBool(") : -1].strip(), self._error(key, part))
        if not colon:
            if fallback:
                return part
            raise self._error(key, f"unknown variable {part!r}")
        address = address.strip()
        if name == "self":
            value = self._walk(self.document, address, key, "self") if address else self.document
            if value is _MISSING:
                raise _Unresolved(f"{address!r} is not in this file")
            return value if address else self.resolve(value, key)
        if name == "opt":
            found = {"stage": self.options.stage, "region": self.options.region}.get(address)
            if found is None:
                raise _Unresolved(f"option --{address} is not given")
            return found
        if name == "sls":
            if address == "stage":
                return self.stage()
            if address == "instanceId":
                return self._instance_id
        if name == "env":
            value = self.options.env().get(address)
            if value is None:
                raise _Unresolved(f"environment variable {address} is not set")
            return value
        if name == "param":
            return self._param(address, key)
        if name == "aws":
            facts = {"region": self.region(), "accountId": "123456789012", "partition": "aws"}
            if address in facts:
                return facts[address]
        service = _SERVICES.get(name.partition("(")[0])
        if service is not None:
            raise _Unresolved(
                f"{name.partition('(')[0]}: reads {service}, which wsgate does not call; give "
                f"the value with --var '{part}=VALUE', or a fallback in the file: "
                f"${{{part}, 'VALUE'}}"
            )
        raise self._error(
            key,
            f"unknown variable source {name!r} in {part!r}: give the value with "
            f"--var '{part}=VALUE'",
        )

    def _param(self, name: str, key: str) -> Any:
        """``--param``, then the stage's params, then the default ones (v4's
        ``stages.<stage>.params`` before v3's ``params.<stage>``)."""
        if name in self.options.params:
            return self.options.params[name]
        stage = self.stage()
        for path in (
            f"stages.{stage}.params",
            f"params.{stage}",
            "stages.default.params",
            "params.default",
        ):
            value = self._walk(self.document, f"{path}.{name}", key, "self")
            if value is not _MISSING and value is not None:
                return value
        raise _Unresolved(
            f"no parameter {name!r} for stage {stage!r}: give it with --param '{name}=VALUE', "
            f"or in params.{stage} or params.default (stages.{stage}.params, "
            "stages.default.params)"
        )

    # --- self: and file( ------------------------------------------------------------------

    def _walk(self, node: object, path: str, key: str, label: str) -> Any:
        """Follow ``path`` from ``node`` (the file ``label``), resolving variables met on
        the way."""
        marker = f"{label}:{path}"
        if marker in self._active:
            chain = " -> ".join([*self._active[self._active.index(marker) :], marker])
            raise self._error(key or path, f"variables refer to each other: {chain}")
        self._active.append(marker)
        try:
            where = ""
            for part in [p for p in path.split(".") if p] if path else []:
                if isinstance(node, str) and "${" in node:
                    node = self._string(node, where)
                if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                elif isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    return _MISSING
                where = key_path(where, part)
            return self.resolve(node, where or key)
        finally:
            self._active.pop()

    def _file(self, part: str, key: str) -> Any:
        close = part.find(")")
        if close < 0:
            raise self._error(key, f"malformed {part!r}: expected file(path):address")
        name = part[len("file(") : close].strip().strip("'\"")
        address = part[close + 1 :].removeprefix(":").strip()
        path = (self.base_dir / name).resolve()
        if path.suffix not in (".yml", ".yaml", ".json"):
            raise self._error(
                key,
                f"file({name}): only YAML and JSON files are read; give the value with "
                f"--var '{part}=VALUE'",
            )
        note(path)  # one made later is read by a reload
        if path not in self._files:
            if not path.is_file():
                raise _Unresolved(f"file {name} does not exist")
            if path.suffix == ".json":
                try:
                    self._files[path] = json.loads(read_text(path, name))
                except ValueError as exc:
                    raise self._error(key, f"file({name}): invalid JSON: {exc}") from None
            else:
                self._files[path] = read_yaml(path, name)
        value = self._files[path]
        if not address:
            return self.resolve(value, key)
        found = self._walk(value, address, key, f"file({name})")
        if found is _MISSING:
            raise _Unresolved(f"{address!r} is not in {name}")
        return found

    def _error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key or '(top level)'}: {message}")


def _spans(text: str, error: ConfigError) -> list[tuple[int, int]]:
    """(start, end) of each outermost ``${...}`` in ``text``."""
    spans: list[tuple[int, int]] = []
    depth, start, index = 0, 0, 0
    while index < len(text):
        if text.startswith("${", index):
            if depth == 0:
                start = index
            depth += 1
            index += 2
            continue
        if text[index] == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, index + 1))
        index += 1
    if depth:
        raise error
    return spans


def _split_commas(inner: str) -> list[str]:
    """Split at commas outside nested variables, parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_bool(text: str, error: ConfigError) -> bool:
    lowered = text.strip("'\"").lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise error

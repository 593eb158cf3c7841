"""Access log lines as a stage's access logging writes them, on the logger ``wsgate.access``.

Fields are named after AWS's ``$context`` variables (CONTRACT-RUNTIME.md §7.2). The
format is JSON by default (one object per line, the variables' names as keys, absent
values null), the Serverless Framework's CLF-like default (``clf``), or a format of the
operator's own with ``$context.`` variables, compiled once at start (absent values ``-``,
as AWS renders them).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping

import orjson


__all__ = ["CLF", "LOGGER_NAME", "AccessLog", "request_time"]

LOGGER_NAME = "wsgate.access"

CLF = (
    "$context.identity.sourceIp $context.identity.caller $context.identity.user "
    '[$context.requestTime] "$context.eventType $context.routeKey $context.connectionId" '
    "$context.requestId"
)
"""The Serverless Framework's default access log format for WebSocket APIs."""

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Fields = Mapping[str, object]


def request_time(epoch_ms: int) -> str:
    """``$context.requestTime``: ``dd/MMM/yyyy:HH:mm:ss +0000`` (CLF, UTC), locale-free."""
    t = time.gmtime(epoch_ms / 1000)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def _compile(template: str) -> list[str]:
    """A format as literal text at even indexes and variable names at odd ones."""
    return _VARIABLE.split(template)


class AccessLog:
    """Writes access lines; ``enabled()`` is the hot path's one check."""

    __slots__ = ("_is_enabled", "_logger", "_parts")

    def __init__(self, setting: bool | str) -> None:
        self._logger = logging.getLogger(LOGGER_NAME)
        self._is_enabled = self._logger.isEnabledFor
        self._parts: list[str] | None = None
        """A compiled format; None for JSON."""
        if isinstance(setting, str) and setting != "json":
            self._parts = _compile(CLF if setting == "clf" else setting)
        _default_handler(self._logger)

    def enabled(self) -> bool:
        """Whether a line written now goes anywhere (``logging`` caches the answer)."""
        return self._is_enabled(logging.INFO)

    def write(self, fields: Fields) -> None:
        """Write one line; ``fields`` are ``$context`` variables without the prefix."""
        self._logger.info("%s", self.render(fields))

    def render(self, fields: Fields) -> str:
        """One line for ``fields``: JSON, or the compiled format."""
        parts = self._parts
        if parts is None:
            return orjson.dumps(fields).decode()
        out = []
        for index, part in enumerate(parts):
            if index % 2 == 0:
                out.append(part)
            else:
                value = fields.get(part)
                out.append("-" if value is None else str(value))
        return "".join(out)


def _default_handler(logger: logging.Logger) -> None:
    """Without a handler of its own, the access log goes to stdout, one bare line each,
    whatever the level of the gateway's own log."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

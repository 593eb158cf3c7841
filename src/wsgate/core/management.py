"""The ``@connections`` management API's pure parts: paths, timestamps, GET bodies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import unquote

import orjson


__all__ = [
    "ConnectionPath",
    "WrongStage",
    "connection_info_body",
    "format_iso8601_ms",
    "parse_management_path",
]

_CONNECTIONS = "@connections"


@dataclass(frozen=True, slots=True)
class ConnectionPath:
    """A well-formed ``@connections`` path; ``connection_id`` is percent-decoded."""

    connection_id: str


@dataclass(frozen=True, slots=True)
class WrongStage:
    """An ``@connections`` path under another stage than ours (AWS answers 403)."""

    stage_given: str


def _decode(segment: str) -> str:
    """Percent-decode a path segment; the usual ones (a stage, ``@connections``, an id
    whose only escape is boto3's ``%3D``) without the general decoder."""
    if "%" not in segment:
        return segment
    plain = segment.replace("%3D", "=").replace("%3d", "=")
    return plain if "%" not in plain else unquote(segment)


def parse_management_path(raw_path: str, stage: str) -> ConnectionPath | WrongStage | None:
    """Parse ``/{stage}/@connections/{id}`` or the stage-less ``/@connections/{id}``.

    ``raw_path`` is the path as received, still percent-encoded (a query string, if any,
    is ignored). boto3 sends ``@`` literally and ``=`` as ``%3D``; the AWS docs spell it
    ``%40connections``; every segment is percent-decoded before comparing, so both work.
    Returns None for anything else: no ``@connections``, an empty id or stage, extra
    segments (a trailing ``/`` included).
    """
    segments = raw_path.partition("?")[0].split("/")
    if segments[0] != "":
        return None
    if len(segments) == 3:
        stage_given = None
    elif len(segments) == 4:
        stage_given = _decode(segments[1])
    else:
        return None
    if _decode(segments[-2]) != _CONNECTIONS:
        return None
    connection_id = _decode(segments[-1])
    if not connection_id or stage_given == "":
        return None
    if stage_given is not None and stage_given != stage:
        return WrongStage(stage_given)
    return ConnectionPath(connection_id)


def format_iso8601_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as ISO 8601 UTC, e.g. ``2022-01-25T18:50:04.673Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def connection_info_body(
    connected_at_ms: int, last_active_at_ms: int, source_ip: str, user_agent: str | None
) -> bytes:
    """The GetConnection response body; ``userAgent`` is null when the client sent none."""
    return orjson.dumps(
        {
            "connectedAt": format_iso8601_ms(connected_at_ms),
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "lastActiveAt": format_iso8601_ms(last_active_at_ms),
        }
    )

"""What every section of the config shares: frozen models, located errors, env values."""

from __future__ import annotations

from pydantic import ConfigDict


__all__ = ["FROZEN", "LocatedValueError", "strings_from_scalars"]

FROZEN = ConfigDict(extra="forbid", frozen=True)
"""Every section: no unknown key, no change after validation."""


class LocatedValueError(ValueError):
    """A validation error that belongs to a key below the one being validated.

    ``loc`` is appended to the location pydantic reports, so that the loader can name
    e.g. ``routes.$connect.response`` although the check runs on the whole config.
    """

    def __init__(self, message: str, loc: tuple[str, ...]) -> None:
        super().__init__(message)
        self.loc = loc


def strings_from_scalars(value: object) -> object:
    """Let ``{PORT: 5432}`` mean the string ``"5432"``, as environment values are strings."""
    if isinstance(value, dict):
        return {
            k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in value.items()
        }
    return value

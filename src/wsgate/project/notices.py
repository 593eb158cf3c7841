"""What a project file asks for that wsgate does not do locally, named at start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


__all__ = ["Notice"]


@dataclass(frozen=True)
class Notice:
    """One key of a project file that wsgate does not honour as AWS would.

    ``level`` is ``warning`` when behaviour differs from AWS's (an IAM check not made, a
    table not created) and ``info`` when the key has no local meaning at all (a deployment,
    a Lambda permission).
    """

    key: str
    """The key path in the project file, e.g. ``Resources.Route.Properties.ApiKeyRequired``."""
    problem: str
    """What cannot be honoured."""
    instead: str
    """What wsgate does instead."""
    level: Literal["warning", "info"] = "warning"

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}; {self.instead}"

"""Throttles in the config: a stage's default for every route, and a route's own.

They are AWS's ``DefaultRouteSettings`` and ``RouteSettings`` ``ThrottlingRateLimit`` /
``ThrottlingBurstLimit``: each route key gets a token bucket of its own. A value left out
falls back to the stage's, then to AWS's account limits, as on AWS.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from wsgate.config.common import FROZEN
from wsgate.core.throttle import ACCOUNT_BURST, ACCOUNT_RATE


__all__ = ["Throttle", "ThrottleSettings", "resolve_throttle"]


class ThrottleSettings(BaseModel):
    """A token bucket: ``burst`` requests at once, then ``rate`` a second."""

    model_config = FROZEN

    rate: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Steady requests a second (AWS's ThrottlingRateLimit). Left out: the stage's, "
            f"else AWS's account limit ({ACCOUNT_RATE:g})."
        ),
    )
    burst: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Requests let through at once (AWS's ThrottlingBurstLimit); 0 refuses every "
            f"request. Left out: the stage's, else AWS's account burst ({ACCOUNT_BURST})."
        ),
    )


Throttle = tuple[float, int]
"""A resolved throttle: (rate, burst)."""


def resolve_throttle(
    stage: ThrottleSettings | None, route: ThrottleSettings | None
) -> Throttle | None:
    """The throttle of one route: its own values, else the stage's, else the account's;
    None when neither the stage nor the route sets one (no throttling, as locally
    expected: the account limits are not emulated)."""
    if stage is None and route is None:
        return None
    rate, burst = ACCOUNT_RATE, ACCOUNT_BURST
    for settings in (stage, route):  # the route's own values last: they win
        if settings is not None:
            rate = settings.rate if settings.rate is not None else rate
            burst = settings.burst if settings.burst is not None else burst
    return float(rate), burst

"""Token buckets: AWS's throttling algorithm, with the clock passed in.

A bucket holds at most ``burst`` tokens and gains ``rate`` a second; each request takes
one, and a request finding less than one is throttled. It starts full, so ``burst``
requests pass at once. ``burst`` 0 refuses everything, which is how AWS users switch a
route off; ``rate`` 0 lets ``burst`` requests through and then none.
"""

from __future__ import annotations


__all__ = ["ACCOUNT_BURST", "ACCOUNT_RATE", "TokenBucket"]

ACCOUNT_RATE = 10_000.0
"""AWS's default account throttle, requests a second: what applies where a stage or route
sets no rate of its own."""

ACCOUNT_BURST = 5_000
"""AWS's default account burst: what applies where a stage or route sets none."""


class TokenBucket:
    """One token bucket; times are ``time.monotonic()`` seconds."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate < 0 or burst < 0:
            raise ValueError(f"rate and burst must not be negative, got {rate!r}, {burst!r}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; whether the request may pass."""
        tokens = self.tokens(now)
        self._stamp = max(self._stamp, now)
        if tokens < 1:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1
        return True

    def tokens(self, now: float) -> float:
        """The tokens held at ``now`` (a clock that went back adds none)."""
        gained = max(0.0, now - self._stamp) * self.rate
        return min(float(self.burst), self._tokens + gained)

    def full(self, now: float) -> bool:
        """Whether the bucket has filled up again: the same as a bucket never used."""
        return self.tokens(now) >= self.burst

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate!r}, burst={self.burst!r})"

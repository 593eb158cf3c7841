"""Token buckets, with the clock in the test's hands."""

from __future__ import annotations

import pytest

from wsgate.core.throttle import TokenBucket


def test_a_full_bucket_lets_the_burst_through_then_throttles() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0)
    assert not bucket.take(0.25)  # half a token
    assert bucket.take(0.5)  # one whole token since 0.0
    assert not bucket.take(0.5)
    assert bucket.tokens(60.0) == 2.0  # never more than the burst
    assert bucket.full(60.0)


def test_a_refused_request_takes_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.take(0.0)
    for moment in (0.2, 0.4, 0.6, 0.8):
        assert not bucket.take(moment)
    assert bucket.take(1.0)


def test_burst_zero_refuses_everything() -> None:
    """AWS users switch a route off with a burst of 0."""
    bucket = TokenBucket(rate=100.0, burst=0, now=0.0)
    assert not any(bucket.take(float(second)) for second in range(10))


def test_rate_zero_lets_the_burst_through_and_no_more() -> None:
    bucket = TokenBucket(rate=0.0, burst=2, now=0.0)
    assert [bucket.take(float(s)) for s in range(4)] == [True, True, False, False]


def test_a_clock_going_back_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert not bucket.take(10.5)


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1), (1.0, -1)])
def test_negative_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        TokenBucket(rate, burst, 0.0)

"""The per-channel token bucket, on a clock the test moves: a burst, then the rate."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.http.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_a_burst_through_then_says_when_to_come_back() -> None:
    clock = Clock()
    limiter = RateLimiter(60, burst_s=5, clock=clock)  # 1 a second, 5 at once

    assert [limiter.take("web") for _ in range(5)] == [None] * 5
    assert limiter.take("web") == 1
    clock.now += 0.5
    assert limiter.take("web") == 1  # half a token back: a whole second at most
    clock.now += 0.5
    assert limiter.take("web") is None
    assert limiter.take("web") == 1


def test_each_channel_has_its_own_bucket() -> None:
    limiter = RateLimiter(60, burst_s=1, clock=Clock())
    assert limiter.take("web") is None
    assert limiter.take("web") == 1
    assert limiter.take("pos") is None


def test_a_slow_rate_waits_whole_seconds_and_its_bucket_holds_at_least_one() -> None:
    clock = Clock()
    limiter = RateLimiter(6, burst_s=5, clock=clock)  # one per 10 s: 0.5 in five seconds
    assert limiter.take("web") is None
    assert limiter.take("web") == 10
    clock.now += 9.2
    assert limiter.take("web") == 1


def test_the_bucket_refills_no_higher_than_its_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(600, burst_s=2, clock=clock)  # 10 a second, 20 at once
    clock.now += 3600
    assert sum(limiter.take("web") is None for _ in range(25)) == 20


def test_zero_is_unlimited_and_a_channels_own_rate_wins() -> None:
    clock = Clock()
    unlimited = RateLimiter(0, clock=clock)
    assert all(unlimited.take("web") is None for _ in range(10_000))
    limited = RateLimiter(0, burst_s=1, clock=clock)
    assert limited.take("web", 60) is None
    assert limited.take("web", 60) == 1
    strict = RateLimiter(60, burst_s=1, clock=clock)
    assert all(strict.take("bench", 0) is None for _ in range(10_000))


@given(
    rate=st.integers(1, 100_000),
    burst=st.floats(0.1, 30),
    gaps=st.lists(st.floats(0, 5), max_size=60),
)
def test_no_more_pass_than_the_burst_and_the_rate_allow_and_a_wait_is_at_least_1(
    rate: int, burst: float, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter(rate, burst_s=burst, clock=clock)
    passed = 0
    for gap in gaps:
        clock.now += gap
        wait = limiter.take("web")
        passed += wait is None
        assert wait is None or (isinstance(wait, int) and wait >= 1)
    allowed = max(1.0, rate / 60 * burst) + rate / 60 * sum(gaps)
    assert passed <= allowed + 1e-6

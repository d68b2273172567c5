"""The rate limiter's arithmetic, on a fake clock (no Ray needed)."""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise

import pytest

from stockteacher.cluster.limiter import BudgetExhausted, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def grants(limiter: RateLimiter, clock: Clock, n: int, tokens: int = 100) -> list[float]:
    return [clock.now + limiter.reserve(tokens) for _ in range(n)]


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect_right(times, t + window - 1e-9) - i for i, t in enumerate(times))


def test_requests_are_spaced_evenly_within_the_per_second_share() -> None:
    clock = Clock()
    limiter = RateLimiter(1200, 10**9, jitter_seconds=0.02, clock=clock)
    times = grants(limiter, clock, 100)
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) == pytest.approx(1.02 / 20)  # no burst: one slot every 51 ms
    assert max_in_window(times, 1.0) <= 20  # never more than L/60 in any second
    assert max_in_window(times, 60.0) <= 1200


def test_rpm_caps_a_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(60, 10**9, jitter_seconds=0.0, clock=clock)
    times = grants(limiter, clock, 130)
    assert max_in_window(times, 60.0) <= 60
    assert times[-1] - times[0] >= 129 * 1.0


def test_tokens_per_minute_are_a_limit_too() -> None:
    clock = Clock()
    limiter = RateLimiter(10_000, 10_000, jitter_seconds=0.0, clock=clock)
    times = grants(limiter, clock, 5, tokens=4_000)  # 2.5 calls' worth of tokens per minute
    assert times[2] - times[0] >= 60.0  # the third has to wait for the first's tokens to age out
    assert max_in_window(times, 60.0) <= 2


def test_a_429_pauses_everyone_for_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(600, 10**9, clock=clock)
    limiter.observe({"retry_after_seconds": 7.5}, status=429)
    assert limiter.reserve(10) == pytest.approx(7.5)


def test_headers_with_nothing_remaining_wait_for_the_reset() -> None:
    clock = Clock()
    limiter = RateLimiter(600, 10**9, clock=clock)
    limiter.observe({"remaining_requests": 0, "reset_requests_seconds": 2.0, "remaining_tokens": 500}, status=200)
    assert limiter.reserve(10) == pytest.approx(2.0)
    limiter.observe({"remaining_requests": 5, "remaining_tokens": 0, "reset_tokens_seconds": 9.0}, status=200)
    assert limiter.reserve(10) >= 9.0


def test_daily_budget_is_shared_and_resets_with_the_day() -> None:
    clock, day = Clock(), ["2026-11-26"]
    limiter = RateLimiter(600, 10**9, daily_budget_usd=1.0, spent_today_usd=0.4, clock=clock, today=lambda: day[0])
    limiter.reserve(10)
    limiter.record_cost(0.7)
    with pytest.raises(BudgetExhausted):
        limiter.reserve(10)
    day[0] = "2026-11-27"
    assert limiter.reserve(10) >= 0  # a new day, a new budget

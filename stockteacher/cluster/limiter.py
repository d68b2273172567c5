"""The cluster-wide LLM rate limiter: requests/minute, tokens/minute and the daily budget.

`RateLimiter` is plain Python (unit-testable with a fake clock); on Ray it runs as one named
actor (`stockteacher-rate-limiter`) that every analyzer replica asks before each request, so
the limit holds for the cluster however many replicas there are.

It works by *reservation*: `reserve(tokens)` returns how long the caller must wait before
sending; the caller sleeps in its own thread, and the limiter's event loop never blocks.
Grants are kept in time order, spaced evenly (no bursts), and are refused a slot that would put

- more than `rpm` requests in any 60 s,
- more than `rpm / 60` requests in any `1 s + jitter` (providers enforce per-minute limits
  over short windows, and a request can reach the server up to `jitter` later than granted),
- more than `tpm` estimated tokens in any 60 s.

Even spacing (`(1 s + jitter) / (rpm / 60)` between grants) matters: a burst of a second's
quota sent at once reaches the server spread out by scheduling noise, and the next burst then
overlaps its tail inside one second; evenly spaced requests tolerate that noise.

The provider's view corrects ours: `observe()` takes the parsed `x-ratelimit-*` headers
(zero remaining → wait for the reset) and a 429's `retry-after` pauses everyone.
`record_cost()` adds actual spend; once the day's spend reaches the budget, `reserve` raises
`BudgetExhausted` for every replica.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["LIMITER_NAME", "BudgetExhausted", "RateLimiter"]

LIMITER_NAME = "stockteacher-rate-limiter"
WINDOW = 60.0


class BudgetExhausted(Exception):
    """The day's LLM budget is spent; no new call may start until 00:00 UTC."""


class RateLimiter:
    def __init__(
        self,
        rpm: int,
        tpm: int,
        *,
        jitter_seconds: float = 0.02,
        daily_budget_usd: float | None = None,
        spent_today_usd: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], str] | None = None,
    ) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.per_second = max(1, math.floor(rpm / 60))
        self.short_window = 1.0 + jitter_seconds
        self.min_interval = self.short_window / self.per_second
        self.daily_budget = daily_budget_usd
        self.spent = spent_today_usd
        self.clock = clock
        self.today = today or (lambda: datetime.now(UTC).date().isoformat())
        self.day = self.today()
        self.grants: deque[float] = deque()  # send times granted, non-decreasing
        self.token_grants: deque[tuple[float, int]] = deque()
        self.paused_until = 0.0
        self.waits_total = 0.0
        self.granted = 0
        self.pauses = 0

    # -- reservations ---------------------------------------------------------------------
    def reserve(self, tokens: int) -> float:
        """Reserve a send slot for a request of `tokens` estimated tokens; returns the delay."""
        self._roll_day()
        if self.daily_budget is not None and self.spent >= self.daily_budget:
            raise BudgetExhausted(f"daily LLM budget spent: ${self.spent:.4f} of ${self.daily_budget}")
        now = self.clock()
        tokens = max(0, min(int(tokens), self.tpm))  # a single oversize request still gets through, alone
        self._forget(now)
        at = max(now, self.paused_until, self.grants[-1] + self.min_interval if self.grants else now)
        while True:
            later = self._earliest_allowed(at, tokens)
            if later <= at:
                break
            at = later
        self.grants.append(at)
        self.token_grants.append((at, tokens))
        self.granted += 1
        delay = at - now
        self.waits_total += delay
        return delay

    def _earliest_allowed(self, at: float, tokens: int) -> float:
        # requests per minute
        in_minute = [t for t in self.grants if t > at - WINDOW]
        if len(in_minute) >= self.rpm:
            at = max(at, in_minute[len(in_minute) - self.rpm] + WINDOW)
        # requests per short window (smoothing)
        in_short = [t for t in self.grants if t > at - self.short_window]
        if len(in_short) >= self.per_second:
            at = max(at, in_short[len(in_short) - self.per_second] + self.short_window)
        # tokens per minute
        window = [(t, n) for t, n in self.token_grants if t > at - WINDOW]
        used = sum(n for _, n in window)
        if used + tokens > self.tpm:
            for t, n in window:
                used -= n
                if used + tokens <= self.tpm:
                    at = max(at, t + WINDOW)
                    break
        return at

    def _forget(self, now: float) -> None:
        horizon = now - WINDOW - self.short_window
        while self.grants and self.grants[0] < horizon:
            self.grants.popleft()
        while self.token_grants and self.token_grants[0][0] < horizon:
            self.token_grants.popleft()

    # -- feedback from the provider -------------------------------------------------------
    def observe(self, info: dict[str, Any], *, status: int | None = None) -> None:
        """Follow the provider's own accounting (`RateLimitInfo.as_dict()`)."""
        now = self.clock()
        retry_after = info.get("retry_after_seconds")
        if status == 429:
            self.pause(retry_after if retry_after is not None else 1.0)
            return
        if info.get("remaining_requests") == 0 and info.get("reset_requests_seconds"):
            self.paused_until = max(self.paused_until, now + float(info["reset_requests_seconds"]))
        if info.get("remaining_tokens") == 0 and info.get("reset_tokens_seconds"):
            self.paused_until = max(self.paused_until, now + float(info["reset_tokens_seconds"]))

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429 told us so)."""
        self.pauses += 1
        self.paused_until = max(self.paused_until, self.clock() + max(0.0, seconds))

    # -- budget ---------------------------------------------------------------------------
    def record_cost(self, usd: float) -> float:
        self._roll_day()
        self.spent += max(0.0, usd)
        return self.spent

    def _roll_day(self) -> None:
        today = self.today()
        if today != self.day:
            self.day, self.spent = today, 0.0

    def stats(self) -> dict[str, Any]:
        return {
            "rpm": self.rpm,
            "tpm": self.tpm,
            "granted": self.granted,
            "waits_total_seconds": round(self.waits_total, 3),
            "paused_for_seconds": max(0.0, round(self.paused_until - self.clock(), 3)),
            "pauses": self.pauses,
            "spent_today_usd": round(self.spent, 6),
            "daily_budget_usd": self.daily_budget,
        }

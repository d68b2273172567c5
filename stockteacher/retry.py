"""One retry policy for every remote call (news sources, the LLM): exponential backoff with
full jitter, a server's retry-after honoured, a bounded number of attempts.

An error is retried when it is an instance of `transient` and, if it carries `retry_after`,
that wait is not longer than `max_wait_seconds` (waiting longer would stall the pipeline; the
error goes back to the caller, whose next scheduled run tries again).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, Retrying, stop_after_attempt

from stockteacher.logs import get_logger

__all__ = ["RetryPolicy", "async_retrying", "sync_retrying"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int  # total attempts, the first included
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_wait_seconds: float = 30.0


def _tenacity_kwargs(
    policy: RetryPolicy, *, transient: type[BaseException] | tuple[type[BaseException], ...], event: str
) -> dict[str, Any]:
    def retry_after(state: RetryCallState) -> float | None:
        exc = state.outcome.exception() if state.outcome else None
        return getattr(exc, "retry_after", None)

    def should_retry(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, transient):
            return False
        wait = retry_after(state)
        if wait is not None and wait > policy.max_wait_seconds:
            log.warning(f"{event}.retry_after_too_long", retry_after=wait, max_wait=policy.max_wait_seconds)
            return False
        return True

    def wait(state: RetryCallState) -> float:
        backoff = min(policy.max_backoff_seconds, policy.backoff_seconds * 2 ** (state.attempt_number - 1))
        return max(random.uniform(backoff / 2, backoff), retry_after(state) or 0.0)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            f"{event}.retry",
            attempt=state.attempt_number,
            error_code=getattr(exc, "code", None),
            wait_seconds=round(state.upcoming_sleep, 3),
        )

    return {
        "retry": should_retry,
        "stop": stop_after_attempt(max(1, policy.attempts)),
        "wait": wait,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def sync_retrying(policy: RetryPolicy, *, transient: Any, event: str) -> Retrying:
    return Retrying(**_tenacity_kwargs(policy, transient=transient, event=event))


def async_retrying(policy: RetryPolicy, *, transient: Any, event: str) -> AsyncRetrying:
    return AsyncRetrying(**_tenacity_kwargs(policy, transient=transient, event=event))

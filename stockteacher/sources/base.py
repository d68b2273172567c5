"""The one small interface every news source implements, its errors, and shared HTTP plumbing.

Errors::

    SourceError                      (code: str, source: str)
    ├── TransientSourceError         worth retrying: timeouts, connection errors, 429, 5xx
    │   └── RateLimitedError         429 / "rateLimited", with the server's retry_after
    └── PermanentSourceError         retrying cannot help: bad key, bad parameters, bad data
        ├── SourceConfigError        the source is not configured (missing key, path, template)
        └── MalformedResponseError   the server answered something we cannot read

httpx exceptions are translated here, at the adapter boundary, by `map_httpx_error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import httpx

from stockteacher.core.errors import PicklableError
from stockteacher.core.vocabulary import is_transient_status
from stockteacher.logs import get_logger
from stockteacher.retry import RetryPolicy, async_retrying
from stockteacher.tickers.registry import TickerInfo

__all__ = [
    "HttpPolicy",
    "MalformedResponseError",
    "PermanentSourceError",
    "RateLimitedError",
    "RawArticle",
    "Source",
    "SourceConfigError",
    "SourceError",
    "TransientSourceError",
    "error_for_status",
    "map_httpx_error",
    "parse_retry_after",
    "with_retries",
]

log = get_logger(__name__)
T = TypeVar("T")


class SourceError(PicklableError):
    """A source could not deliver articles."""

    code = "source_error"

    def __init__(self, message: str, *, source: str, code: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        if code is not None:
            self.code = code


class TransientSourceError(SourceError):
    code = "transient"
    retry_after: float | None = None


class RateLimitedError(TransientSourceError):
    code = "rate_limited"

    def __init__(self, message: str, *, source: str, code: str | None = None, retry_after: float | None = None):
        super().__init__(message, source=source, code=code)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    code = "permanent"


class SourceConfigError(PermanentSourceError):
    code = "not_configured"


class MalformedResponseError(PermanentSourceError):
    code = "malformed_response"


@dataclass(slots=True)
class RawArticle:
    """An article as a source delivered it, before normalisation."""

    title: str | None
    url: str | None
    description: str | None = None
    body: str | None = None
    source_name: str | None = None
    published_at: datetime | str | None = None
    language: str | None = None
    author: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A news source: `fetch` returns the raw articles about one ticker."""

    name: str

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]: ...


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts and retry policy of one HTTP source."""

    timeout_seconds: float
    max_retries: int
    backoff_seconds: float = 0.5
    max_retry_wait_seconds: float = 30.0

    @classmethod
    def of(cls, settings: Any, source: str) -> HttpPolicy:
        """The policy `settings` give `source`: its `<source>_timeout_seconds` and
        `<source>_max_retries`, and the shared back-off."""
        return cls(
            timeout_seconds=getattr(settings, f"{source}_timeout_seconds"),
            max_retries=getattr(settings, f"{source}_max_retries"),
            backoff_seconds=settings.source_backoff_seconds,
            max_retry_wait_seconds=settings.source_max_retry_wait_seconds,
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


def map_httpx_error(exc: httpx.HTTPError, *, source: str) -> SourceError:
    """Translate an httpx transport error into our error tree."""
    if isinstance(exc, httpx.TimeoutException):
        return TransientSourceError(f"{source}: timed out ({type(exc).__name__})", source=source, code="timeout")
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)):
        return TransientSourceError(
            f"{source}: connection failed ({type(exc).__name__})", source=source, code="connection_error"
        )
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return SourceConfigError(f"{source}: bad endpoint URL ({exc})", source=source, code="bad_endpoint")
    return TransientSourceError(f"{source}: HTTP error ({type(exc).__name__})", source=source, code="http_error")


def error_for_status(
    response: httpx.Response, *, source: str, code: str | None = None, message: str | None = None
) -> SourceError:
    """Sort a non-2xx answer: what `is_transient_status` says is transient, other 4xx permanent."""
    status = response.status_code
    detail = f"{source}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status == 429:
        return RateLimitedError(
            detail,
            source=source,
            code=code or "rate_limited",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if is_transient_status(status):
        exc = TransientSourceError(detail, source=source, code=code or f"http_{status}")
        exc.retry_after = parse_retry_after(response.headers.get("retry-after"))  # 503 may say when
        return exc
    return PermanentSourceError(detail, source=source, code=code or f"http_{status}")


async def with_retries(call: Callable[[], Awaitable[T]], *, source: str, policy: HttpPolicy) -> T:
    """Run `call`, retrying `TransientSourceError` per the shared policy (`stockteacher.retry`)."""
    retry_policy = RetryPolicy(
        attempts=policy.max_retries + 1,
        backoff_seconds=policy.backoff_seconds,
        max_wait_seconds=policy.max_retry_wait_seconds,
    )

    async def attempt() -> T:
        return await call()

    return await async_retrying(retry_policy, transient=TransientSourceError, event=source)(attempt)


async def get_with_policy(
    client: httpx.AsyncClient,
    url: str,
    *,
    source: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One GET, vendor errors translated; non-2xx answers are returned for the caller to sort."""
    try:
        return await client.get(url, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise map_httpx_error(exc, source=source) from exc


def log_rate_limit(source: str, exc: RateLimitedError) -> None:
    log.warning(f"{source}.rate_limit", error_code=exc.code, retry_after=exc.retry_after)

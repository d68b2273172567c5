"""The LLM analyzer on the official `openai` client (any OpenAI-compatible server via base_url).

One call = one prompt → one JSON answer validated against `ReportDraft`. Before every attempt
the worst-case cost (estimated prompt tokens + `max_tokens`) is checked against
`ANALYSIS_COST_LIMIT_USD` and the daily budget; the actual cost comes from `usage`.
Structured output uses `response_format: json_schema`; a server that rejects it is asked again
in JSON mode (`json_object`), and remembered.

openai's exceptions are translated here into `TransientLLMError` / `PermanentLLMError`; the
client's own retries are off, ours (`stockteacher.retry`) honour `retry-after-ms` /
`retry-after`. Every response's `x-ratelimit-*` headers are parsed into `RateLimitInfo` and
handed to the caller (`on_rate_limits`), so a shared limiter can follow the provider's view.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import openai

from stockteacher.analysis.cost import Price, cost_usd, estimate_prompt_tokens, price_for
from stockteacher.analysis.errors import CostLimitError, LLMError, PermanentLLMError, TransientLLMError
from stockteacher.analysis.prompts import Prompt
from stockteacher.analysis.schema import ReportDraft, json_schema, validate_draft
from stockteacher.core.vocabulary import is_transient_status
from stockteacher.logs import get_logger
from stockteacher.retry import RetryPolicy, sync_retrying
from stockteacher.settings import Settings

__all__ = ["LLMResult", "OpenAIAnalyzer", "RateLimitInfo", "map_openai_error", "parse_rate_limits"]

log = get_logger(__name__)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def _parse_duration(value: str | None) -> float | None:
    """OpenAI's reset durations: "120ms", "6s", "1m30s", "2h0m0s" → seconds."""
    if not value:
        return None
    parts = _DURATION.findall(value.strip())
    if not parts:
        try:
            return float(value)
        except ValueError:
            return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[unit] for n, unit in parts)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_seconds: float | None = None
    reset_tokens_seconds: float | None = None
    retry_after_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _retry_after(headers: httpx.Headers) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    from stockteacher.sources.base import parse_retry_after

    return parse_retry_after(headers.get("retry-after"))


def parse_rate_limits(headers: httpx.Headers) -> RateLimitInfo:
    return RateLimitInfo(
        limit_requests=_int(headers.get("x-ratelimit-limit-requests")),
        limit_tokens=_int(headers.get("x-ratelimit-limit-tokens")),
        remaining_requests=_int(headers.get("x-ratelimit-remaining-requests")),
        remaining_tokens=_int(headers.get("x-ratelimit-remaining-tokens")),
        reset_requests_seconds=_parse_duration(headers.get("x-ratelimit-reset-requests")),
        reset_tokens_seconds=_parse_duration(headers.get("x-ratelimit-reset-tokens")),
        retry_after_seconds=_retry_after(headers),
    )


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return getattr(exc, "code", None) or inner.get("code") or inner.get("type")


def map_openai_error(exc: openai.OpenAIError) -> LLMError:
    """Translate an openai exception into our error tree."""
    if isinstance(exc, openai.APITimeoutError):
        return TransientLLMError("LLM request timed out", code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return TransientLLMError(
            f"cannot reach the LLM server ({type(exc.__cause__).__name__})", code="connection_error"
        )
    if isinstance(exc, openai.APIStatusError):
        status, code = exc.status_code, _error_code(exc)
        message = f"LLM server answered HTTP {status}" + (f" {code}" if code else "") + f": {_message(exc)}"
        if status == 429:
            if code == "insufficient_quota":
                return PermanentLLMError(message, code="insufficient_quota")
            return TransientLLMError(message, code="rate_limited", retry_after=_retry_after(exc.response.headers))
        if status in (401, 403):
            return PermanentLLMError(message, code="auth_error")
        if is_transient_status(status, also=(409,)):
            return TransientLLMError(
                message,
                code="server_error" if status >= 500 else f"http_{status}",
                retry_after=_retry_after(exc.response.headers),
            )
        if status == 404:
            return PermanentLLMError(message, code="model_not_found")
        return PermanentLLMError(message, code="bad_request")
    if isinstance(exc, openai.APIResponseValidationError):
        return TransientLLMError("LLM server sent a response we cannot read", code="invalid_response")
    return PermanentLLMError(f"LLM client error: {type(exc).__name__}", code="client_error")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return str(inner.get("message") or exc.message)[:300]


def _is_response_format_rejection(exc: openai.BadRequestError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return inner.get("param") == "response_format" or "response_format" in str(inner.get("message", ""))


class RequestLimiter(Protocol):
    """What the analyzer asks before and tells after each request (see cluster/limiter.py)."""

    def acquire(self, tokens: int) -> None:
        """Block until a request of `tokens` estimated tokens may be sent; raise
        `CostLimitError` when the shared daily budget is spent."""

    def observe(self, info: RateLimitInfo, *, status: int | None) -> None: ...

    def record_cost(self, usd: float) -> None: ...


@dataclass
class LLMResult:
    draft: ReportDraft
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    attempts: int
    rate_limits: RateLimitInfo = field(default_factory=RateLimitInfo)


@dataclass
class _Spend:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0


_clients: dict[tuple[str, str | None, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def shared_client(settings: Settings) -> openai.OpenAI:
    """One `openai.OpenAI` per (key, server, timeout) per process: building one loads the TLS
    trust store (~30 ms of CPU), and a shared client reuses its connections. It is thread-safe."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if not key:
        raise PermanentLLMError("OPENAI_API_KEY is not set", code="auth_error")
    cache_key = (key, settings.openai_base_url or None, settings.analysis_request_timeout_seconds)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = openai.OpenAI(
                api_key=key,
                base_url=settings.openai_base_url or None,
                timeout=settings.analysis_request_timeout_seconds,
                max_retries=0,  # our own retries, which honour retry-after and the limiter
            )
            _clients[cache_key] = client
        return client


def warm_up(settings: Settings) -> None:
    """Run the openai client's request and response code once against an in-memory transport.

    The first real request of a process otherwise spends ~70 ms building pydantic schemas and
    importing modules *after* the rate limiter granted its slot, so it reaches the provider
    late and bunches with the next one. Nothing leaves the process.
    """
    try:
        import httpx2 as transport_lib  # the transport openai >= 3 uses

        http_client: Any = openai.DefaultHttpx2Client(transport=transport_lib.MockTransport(_canned_completion))
    except (ImportError, AttributeError):
        transport_lib = httpx
        http_client = openai.DefaultHttpxClient(transport=httpx.MockTransport(_canned_completion))
    client = openai.OpenAI(
        api_key="warm-up", base_url="http://warm-up.invalid/v1", max_retries=0, http_client=http_client
    )
    analyzer = OpenAIAnalyzer(settings, client=client)
    analyzer.settings = settings.model_copy(update={"analysis_cost_limit_usd": 1e9})
    client.chat.completions.with_raw_response.create(
        model=settings.analysis_model,
        messages=[{"role": "user", "content": "warm-up"}],
        max_tokens=1,
        temperature=0,
        response_format=analyzer._response_format(),  # type: ignore[arg-type]
    ).parse()
    client.close()


def _canned_completion(request: Any) -> Any:
    module = type(request).__module__.split(".")[0]
    lib: Any = __import__(module)
    body = {
        "id": "chatcmpl-warm-up",
        "object": "chat.completion",
        "created": 0,
        "model": "warm-up",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}", "refusal": None}}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return lib.Response(200, json=body)


class OpenAIAnalyzer:
    """Turns a `Prompt` into a validated `ReportDraft` through an OpenAI-compatible server."""

    provider = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        client: openai.OpenAI | None = None,
        spent_today: Callable[[], float] | None = None,
        on_rate_limits: Callable[[RateLimitInfo], None] | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        self.client = client or shared_client(settings)
        self.settings = settings
        self.model = settings.analysis_model
        self.price: Price = price_for(self.model, settings.analysis_price_overrides)
        self.spent_today = spent_today or (lambda: 0.0)
        self.on_rate_limits = on_rate_limits
        self.limiter = limiter
        self.use_json_schema = True
        self.policy = RetryPolicy(
            attempts=settings.analysis_retry_max_attempts,
            backoff_seconds=settings.analysis_retry_backoff_seconds,
            max_wait_seconds=settings.analysis_max_retry_wait_seconds,
        )

    def estimate_cost(self, prompt: Prompt) -> float:
        return cost_usd(self.price, estimate_prompt_tokens(prompt.messages), self.settings.analysis_max_tokens)

    def check_budget(self, prompt: Prompt) -> float:
        """Refuse (before any request) a call that could cost more than the cap, or any call
        once the day's spend has reached the daily budget."""
        estimate = self.estimate_cost(prompt)
        if estimate > self.settings.analysis_cost_limit_usd:
            raise CostLimitError(
                f"estimated cost ${estimate:.5f} exceeds "
                f"ANALYSIS_COST_LIMIT_USD=${self.settings.analysis_cost_limit_usd}",
                code="cost_limit",
            )
        spent = self.spent_today()
        if spent >= self.settings.analysis_daily_budget_usd:
            raise CostLimitError(
                f"daily budget spent: ${spent:.4f} of "
                f"ANALYSIS_DAILY_BUDGET_USD=${self.settings.analysis_daily_budget_usd}",
                code="daily_budget",
            )
        return estimate

    def analyze(self, prompt: Prompt) -> LLMResult:
        spend = _Spend()
        started = time.perf_counter()
        last_limits = RateLimitInfo()

        def attempt() -> tuple[ReportDraft, RateLimitInfo]:
            spend.attempts += 1
            try:
                return self._attempt(prompt, spend)
            except TransientLLMError as exc:
                log.warning(
                    "analyze.transient_error",
                    attempt=spend.attempts,
                    error_code=exc.code,
                    error=str(exc),
                    retry_after=exc.retry_after,
                )
                raise

        try:
            draft, last_limits = sync_retrying(self.policy, transient=TransientLLMError, event="analyze")(attempt)
        except LLMError as exc:
            exc.prompt_tokens, exc.completion_tokens, exc.cost_usd = (
                spend.prompt_tokens,
                spend.completion_tokens,
                spend.cost_usd,
            )
            exc.context["attempts"] = spend.attempts
            raise
        return LLMResult(
            draft=draft,
            model=self.model,
            prompt_tokens=spend.prompt_tokens,
            completion_tokens=spend.completion_tokens,
            cost_usd=spend.cost_usd,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=spend.attempts,
            rate_limits=last_limits,
        )

    def _response_format(self) -> dict[str, Any]:
        if self.use_json_schema:
            return {
                "type": "json_schema",
                "json_schema": {"name": "stock_report", "strict": True, "schema": json_schema()},
            }
        return {"type": "json_object"}

    def _create(self, prompt: Prompt) -> Any:
        try:
            return self.client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=prompt.messages,  # type: ignore[arg-type]
                max_tokens=self.settings.analysis_max_tokens,
                temperature=self.settings.analysis_temperature,
                response_format=self._response_format(),  # type: ignore[arg-type]
            )
        except openai.BadRequestError as exc:
            if self.use_json_schema and _is_response_format_rejection(exc):
                log.info("analyze.json_schema_unsupported", fallback="json_object")
                self.use_json_schema = False
                return self._create(prompt)
            self._report_limits(exc.response.headers, status=exc.status_code)
            raise map_openai_error(exc) from exc
        except openai.APIStatusError as exc:
            self._report_limits(exc.response.headers, status=exc.status_code)
            raise map_openai_error(exc) from exc
        except openai.OpenAIError as exc:
            raise map_openai_error(exc) from exc

    def _report_limits(self, headers: httpx.Headers, *, status: int | None) -> RateLimitInfo:
        limits = parse_rate_limits(headers)
        if self.on_rate_limits is not None:
            self.on_rate_limits(limits)
        if self.limiter is not None:
            self.limiter.observe(limits, status=status)
        return limits

    def _attempt(self, prompt: Prompt, spend: _Spend) -> tuple[ReportDraft, RateLimitInfo]:
        self.check_budget(prompt)
        if self.limiter is not None:
            self.limiter.acquire(estimate_prompt_tokens(prompt.messages) + self.settings.analysis_max_tokens)
        raw = self._create(prompt)
        limits = self._report_limits(raw.headers, status=raw.http_response.status_code)
        try:
            completion = raw.parse()
        except (openai.OpenAIError, ValueError) as exc:
            raise TransientLLMError("LLM server sent a response we cannot read", code="invalid_response") from exc
        usage = getattr(completion, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = cost_usd(self.price, prompt_tokens, completion_tokens)
        spend.prompt_tokens += prompt_tokens
        spend.completion_tokens += completion_tokens
        spend.cost_usd += cost
        if self.limiter is not None:
            self.limiter.record_cost(cost)
        if cost > self.settings.analysis_cost_limit_usd:
            raise CostLimitError(
                f"the answer cost ${cost:.5f} ({prompt_tokens}+{completion_tokens} tokens), over "
                f"ANALYSIS_COST_LIMIT_USD=${self.settings.analysis_cost_limit_usd}; result discarded",
                code="cost_limit_exceeded",
            )
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice is not None and choice.message else None
        if not content:
            raise TransientLLMError("LLM answer was empty", code="empty_answer")
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise TransientLLMError(
                f"LLM answer is not valid JSON ({exc.msg} at char {exc.pos})", code="invalid_json"
            ) from exc
        try:
            draft = validate_draft(data, allowed_story_ids=set(prompt.story_ids))
        except ValueError as exc:
            code = "unknown_citation" if "cites story ids" in str(exc) else "schema_invalid"
            raise TransientLLMError(str(exc), code=code) from exc
        return draft, limits

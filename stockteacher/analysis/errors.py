"""Analysis errors, sorted by what the caller should do about them.

    AnalysisError                         (code: str)
    ├── LLMError
    │   ├── TransientLLMError             retry with backoff: timeout, connection error,
    │   │                                 429 rate limit, 5xx, unparsable or invalid JSON
    │   └── PermanentLLMError             never retried: 401/403, 400, 429 insufficient_quota,
    │       └── CostLimitError            the cost cap or the daily budget
    └── NoNewStories                      nothing to analyse (not a failure)

openai's exceptions are translated at the adapter boundary in `llm.py`.
"""

from __future__ import annotations

from typing import Any

from stockteacher.core.errors import PicklableError

__all__ = ["AnalysisError", "CostLimitError", "LLMError", "NoNewStories", "PermanentLLMError", "TransientLLMError"]


class AnalysisError(PicklableError):
    code = "analysis_error"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.context = context


class LLMError(AnalysisError):
    code = "llm_error"
    retry_after: float | None = None
    # What the failed call cost, when the server answered with usage (bad JSON still costs).
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class TransientLLMError(LLMError):
    code = "transient"

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None, **context: Any):
        super().__init__(message, code=code, **context)
        self.retry_after = retry_after


class PermanentLLMError(LLMError):
    code = "permanent"


class CostLimitError(PermanentLLMError):
    code = "cost_limit"


class NoNewStories(AnalysisError):
    code = "no_articles"

"""Token estimates and prices: what a call will cost at most, and what it did cost.

The estimate must not undershoot, because the call is refused when the estimate exceeds
`ANALYSIS_COST_LIMIT_USD`. It counts ~4 characters per token for ASCII text and one token per
character otherwise (Korean Hangul costs 1-2 tokens per syllable in OpenAI's tokenizers; one
per character plus a 10 % margin keeps the estimate on the safe side), plus the per-message
overhead, plus `max_tokens` of completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_PRICES", "Price", "cost_usd", "estimate_prompt_tokens", "price_for"]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens."""

    prompt: float
    completion: float


# Public list prices (USD per 1M tokens). Unknown models are priced as the most expensive
# entry, so an unknown name can never slip past the cost cap. Override with
# ANALYSIS_PRICE_OVERRIDES='{"my-model": [0.2, 0.8]}'.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o4-mini": Price(1.10, 4.40),
    "offline": Price(0.0, 0.0),
}
_MESSAGE_OVERHEAD = 4
_REPLY_PRIMING = 3


def price_for(model: str, overrides: dict[str, tuple[float, float]] | None = None) -> Price:
    if overrides and model in overrides:
        prompt, completion = overrides[model]
        return Price(float(prompt), float(completion))
    if model in DEFAULT_PRICES:
        return DEFAULT_PRICES[model]
    # "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini": the longest known prefix wins.
    for known in sorted(DEFAULT_PRICES, key=len, reverse=True):
        if model.startswith(known):
            return DEFAULT_PRICES[known]
    return max(DEFAULT_PRICES.values(), key=lambda p: p.prompt + p.completion)


def estimate_text_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    other = len(text) - ascii_chars
    return math.ceil(ascii_chars / 4 + other * 1.1)


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_text_tokens(m["content"]) + _MESSAGE_OVERHEAD for m in messages) + _REPLY_PRIMING


def cost_usd(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000

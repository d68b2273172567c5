"""Prompt building (budget, ordering, locale) and cost estimates."""

from __future__ import annotations

from datetime import UTC, datetime

from stockteacher.analysis.cost import DEFAULT_PRICES, cost_usd, estimate_prompt_tokens, price_for
from stockteacher.analysis.prompts import StoryInput, build_prompt


def story(sid: int, outlets: int, day: int, text: str = "x" * 300) -> StoryInput:
    return StoryInput(
        sid, f"Title {sid}", text, "Wire", f"https://w.example/{sid}", datetime(2026, 11, day, tzinfo=UTC), outlets
    )


def test_budget_keeps_the_most_corroborated_then_newest_stories() -> None:
    stories = [story(1, 1, 20), story(2, 4, 18), story(3, 1, 25), story(4, 2, 19)]
    prompt = build_prompt("AAPL", "Apple", stories, locale="en_US", char_budget=2300)
    assert prompt.story_ids[:2] == [2, 4]
    assert len(prompt.text) <= 2300 + 10
    full = build_prompt("AAPL", "Apple", stories, locale="en_US", char_budget=100_000)
    assert full.story_ids == [2, 4, 3, 1]


def test_at_least_one_story_even_over_budget() -> None:
    prompt = build_prompt("AAPL", None, [story(1, 1, 20, "y" * 5000)], locale="ko_KR", char_budget=500)
    assert prompt.story_ids == [1]
    assert "…" in prompt.messages[1]["content"]  # long descriptions are trimmed


def test_estimate_never_undershoots_korean_text() -> None:
    korean = [{"role": "user", "content": "삼성전자가 차세대 고대역폭메모리 공급 계약을 맺었다" * 10}]
    # OpenAI's tokenizers spend about one token per Hangul syllable or more; we count 1.1.
    syllables = sum(1 for ch in korean[0]["content"] if "가" <= ch <= "힣")
    assert estimate_prompt_tokens(korean) >= syllables


def test_prices_and_overrides() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    unknown = price_for("some-new-model")
    assert unknown.prompt == max(p.prompt for p in DEFAULT_PRICES.values())  # never cheaper than known
    assert price_for("local-llama", {"local-llama": (0.0, 0.0)}).prompt == 0.0
    assert cost_usd(DEFAULT_PRICES["gpt-4o-mini"], 1_000_000, 1_000_000) == 0.75

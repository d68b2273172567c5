"""The analysis prompt: one representative article per story, trimmed to a character budget.

Bump `PROMPT_VERSION` whenever the wording or the rules change: analyses are cached by
(story set, prompt version, model, locale), so a new version is analysed afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

__all__ = ["PROMPT_VERSION", "Prompt", "StoryInput", "build_prompt"]

PROMPT_VERSION = "2026-11-26.1"
MAX_DESCRIPTION_CHARS = 400


@dataclass(frozen=True, slots=True)
class StoryInput:
    story_id: int
    title: str
    description: str | None
    source: str
    url: str
    published_at: datetime | None
    corroboration_count: int
    language: str | None = None
    published_estimated: bool = False  # the source gave no date: published_at is the collection time


@dataclass(frozen=True, slots=True)
class Prompt:
    messages: list[dict[str, str]]
    story_ids: list[int]
    version: str = PROMPT_VERSION

    @property
    def text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)


_SYSTEM = {
    "ko_KR": (
        "당신은 주식 초보자를 위한 친절한 금융 교사입니다. 아래 뉴스 스토리만을 근거로 한국어 리포트를 작성하세요.\n"
        "규칙:\n"
        "- 스토리에 없는 숫자, 날짜, 사실을 지어내지 마세요. 루머나 추측은 사실처럼 쓰지 마세요.\n"
        "- 매수·매도 등 투자 조언을 하지 마세요.\n"
        "- 여러 매체가 보도한(교차 확인 수가 큰) 스토리를 더 신뢰하세요.\n"
        "- 모든 주장에 근거가 된 스토리 id를 citations에 적으세요. 목록에 없는 id는 쓰지 마세요.\n"
        "- summary_text는 3~5문장, 쉬운 말로. glossary에는 본문에 나온 어려운 용어를 초보자용으로 설명하세요.\n"
        "- sentiment_score는 -1(매우 부정)~1(매우 긍정), anomalies의 score는 0~1 (평소와 다른 사건일수록 큼).\n"
        "- keywords는 3~10개.\n"
        "JSON 하나로만 답하세요: "
    ),
    "en_US": (
        "You are a patient finance teacher for stock-market beginners. Write a report in English based only on "
        "the news stories below.\n"
        "Rules:\n"
        "- Never invent numbers, dates or facts that are not in the stories. Do not present rumours as facts.\n"
        "- Give no investment advice (no buy/sell/hold recommendations).\n"
        "- Trust stories corroborated by more outlets more.\n"
        "- Cite, in citations, the story ids each claim rests on. Use only ids from the list.\n"
        "- summary_text: 3-5 plain sentences. glossary: explain the hard terms you used, for a beginner.\n"
        "- sentiment_score from -1 (very negative) to 1 (very positive); anomaly score 0-1 (higher = more unusual).\n"
        "- keywords: 3 to 10.\n"
        "Answer with one JSON object only: "
    ),
}

_SHAPE = json.dumps(
    {
        "headline": "...",
        "summary_text": "...",
        "keywords": ["..."],
        "sentiment_score": 0.0,
        "anomalies": [{"label": "...", "description": "...", "score": 0.0}],
        "glossary": [{"term": "...", "explanation": "..."}],
        "citations": [{"claim": "...", "story_ids": [1]}],
    },
    ensure_ascii=False,
)


def _story_block(story: StoryInput) -> str:
    description = (story.description or "").strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 1].rstrip() + "…"
    when = story.published_at.strftime("%Y-%m-%d %H:%M UTC") if story.published_at else "unknown time"
    if story.published_estimated:
        when += " (collected then; the source gave no date)"
    lines = [
        f"[story id={story.story_id}] outlets={story.corroboration_count} published={when} source={story.source}",
        f"title: {story.title}",
    ]
    if description:
        lines.append(f"summary: {description}")
    return "\n".join(lines)


def build_prompt(
    ticker: str, company: str | None, stories: list[StoryInput], *, locale: str, char_budget: int
) -> Prompt:
    """Messages for the LLM. Stories are taken most-corroborated and newest first until the
    character budget is spent (at least one story always goes in); the rest wait for the next
    report."""
    ordered = sorted(
        stories,
        key=lambda s: (-s.corroboration_count, -(s.published_at.timestamp() if s.published_at else 0), s.story_id),
    )
    system = _SYSTEM.get(locale, _SYSTEM["en_US"]) + _SHAPE
    header = f"ticker: {ticker}" + (f" ({company})" if company else "") + "\nstories:\n"
    used = len(system) + len(header)
    blocks: list[str] = []
    ids: list[int] = []
    for story in ordered:
        block = _story_block(story)
        if blocks and used + len(block) + 2 > char_budget:
            continue
        blocks.append(block)
        ids.append(story.story_id)
        used += len(block) + 2
    user = header + "\n\n".join(blocks)
    return Prompt(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}], story_ids=ids)

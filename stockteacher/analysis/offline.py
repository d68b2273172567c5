"""The offline analyzer: the same report schema with no network, no key and no cost.

- sentiment: VADER (the `vaderSentiment` package) extended with finance words for English,
  and a bundled Korean finance lexicon (longest match first) for Korean, averaged over the
  stories weighted by how many outlets carry them;
- headline and summary: extractive, from the most corroborated stories, in the locale's
  language, and labelled as written by the offline analyzer;
- anomalies: event patterns (earnings, M&A, lawsuit, recall, guidance…) from `events.csv`;
- glossary: the bundled finance terms that occur in the stories, explained for beginners.

Deterministic: the same stories always give the same report.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from functools import cache
from importlib import resources

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from stockteacher.analysis.prompts import StoryInput
from stockteacher.analysis.schema import Anomaly, Citation, GlossaryEntry, ReportDraft
from stockteacher.core.vocabulary import sentiment_label

__all__ = ["OFFLINE_MODEL", "OfflineAnalyzer", "story_sentiment"]

OFFLINE_MODEL = "offline"
_HANGUL = re.compile(r"[가-힣]")
_WORD = re.compile(r"[A-Za-z][A-Za-z\-']+|[가-힣]{2,}")
_STOP = frozenset(
    """the a an and or of to in on for with at by from as is are was were be been its it this that after over
    into amid says said new more than will has have had not but about up down out year quarter shares stock stocks
    company inc corp co ltd report reports news week month day today per our their his her they we you
    및 등 이 그 저 것 수 위 더 중 대한 관련 통해 위해 따라 지난 올해 이번 오늘 전 후 주 일 월 년""".split()
)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("stockteacher.analysis").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _compile(patterns: str) -> re.Pattern[str] | None:
    parts = []
    for raw in (p.strip() for p in patterns.split("|")):
        if not raw:
            continue
        if _HANGUL.search(raw):
            parts.append(re.escape(raw))
        else:
            parts.append(rf"(?<![A-Za-z0-9]){re.escape(raw)}(?![A-Za-z0-9])")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


@cache
def _vader() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    for row in _read_csv("finance_lexicon_en.csv"):
        analyzer.lexicon[row["word"].strip().lower()] = float(row["score"])
    return analyzer


@cache
def _korean_lexicon() -> list[tuple[str, float]]:
    rows = [(r["word"].strip(), float(r["score"])) for r in _read_csv("finance_lexicon_ko.csv") if r["word"].strip()]
    return sorted(rows, key=lambda r: (-len(r[0]), r[0]))


@cache
def _events() -> list[tuple[dict[str, str], re.Pattern[str]]]:
    out = []
    for row in _read_csv("events.csv"):
        regex = _compile(f"{row['patterns_en']}|{row['patterns_ko']}")
        if regex is not None:
            out.append((row, regex))
    return out


@cache
def _glossary() -> list[tuple[dict[str, str], re.Pattern[str]]]:
    out = []
    for row in _read_csv("glossary.csv"):
        regex = _compile(row["patterns"] or f"{row['term_en']}|{row['term_ko']}")
        if regex is not None:
            out.append((row, regex))
    return out


def _korean_score(text: str) -> float:
    total, remaining = 0.0, text
    for word, score in _korean_lexicon():
        count = remaining.count(word)
        if count:
            total += score * count
            remaining = remaining.replace(word, " ")  # a longer phrase hides its parts
    return total / math.sqrt(total * total + 15) if total else 0.0  # VADER's normalisation


def story_sentiment(text: str) -> float:
    """Sentiment of one text in [-1, 1]: Korean lexicon for Hangul text, VADER otherwise."""
    hangul = len(_HANGUL.findall(text))
    if hangul > len(text) * 0.2:
        return _korean_score(text)
    return float(_vader().polarity_scores(text)["compound"])


def _first_sentence(text: str, limit: int = 220) -> str:
    match = re.split(r"(?<=[.!?。])\s+|(?<=다\.)\s*", text.strip(), maxsplit=1)
    sentence = match[0] if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


_MOOD_KO = {"positive": "긍정적", "negative": "부정적", "neutral": "중립적"}


def _mood(score: float, ko: bool) -> str:
    label = sentiment_label(score)
    return _MOOD_KO[label] if ko else label


class OfflineAnalyzer:
    """Rule-based analysis; see the module docstring."""

    provider = "offline"
    model = OFFLINE_MODEL

    def analyze(self, ticker: str, company: str | None, stories: list[StoryInput], *, locale: str) -> ReportDraft:
        if not stories:
            raise ValueError("no stories to analyse")
        ko = locale == "ko_KR"
        ranked = sorted(
            stories,
            key=lambda s: (-s.corroboration_count, -(s.published_at.timestamp() if s.published_at else 0), s.story_id),
        )
        texts = {s.story_id: f"{s.title}. {s.description or ''}" for s in ranked}
        weights = {s.story_id: 1 + math.log(max(1, s.corroboration_count)) for s in ranked}
        scores = {sid: story_sentiment(text) for sid, text in texts.items()}
        sentiment = sum(scores[sid] * weights[sid] for sid in scores) / sum(weights.values())
        sentiment = round(max(-1.0, min(1.0, sentiment)), 3)
        top = ranked[:3]
        name = company or ticker
        return ReportDraft(
            headline=self._headline(name, top[0], ko),
            summary_text=self._summary(name, ranked, top, sentiment, ko),
            keywords=self._keywords(ticker, company, ranked),
            sentiment_score=sentiment,
            anomalies=self._anomalies(ranked, texts, ko),
            glossary=self._glossary(" ".join(texts.values()), ko),
            citations=[Citation(claim=s.title[:500], story_ids=[s.story_id]) for s in top],
        )

    @staticmethod
    def _headline(name: str, lead: StoryInput, ko: bool) -> str:
        title = lead.title if len(lead.title) <= 150 else lead.title[:149] + "…"
        return f"{name} 주요 뉴스: {title}" if ko else f"{name}: {title}"

    @staticmethod
    def _summary(name: str, ranked: list[StoryInput], top: list[StoryInput], sentiment: float, ko: bool) -> str:
        outlets = sum(s.corroboration_count for s in ranked)
        parts: list[str] = []
        if ko:
            parts.append(f"{name} 관련 뉴스 스토리 {len(ranked)}개(보도 {outlets}건)를 모았습니다.")
            for s in top:
                lead = _first_sentence(s.description or s.title)
                parts.append(f"「{s.title}」 ({s.corroboration_count}개 매체): {lead}")
            parts.append(f"전반적인 뉴스 분위기는 {_mood(sentiment, True)}입니다(감성 점수 {sentiment:+.2f}).")
            parts.append("※ 이 요약은 오프라인 분석기(규칙 기반, LLM 미사용)가 기사 문장을 발췌해 만든 것입니다.")
        else:
            parts.append(f"We gathered {len(ranked)} news stories about {name} ({outlets} articles).")
            for s in top:
                lead = _first_sentence(s.description or s.title)
                parts.append(f'"{s.title}" ({s.corroboration_count} outlet(s)): {lead}')
            parts.append(f"Overall the news tone is {_mood(sentiment, False)} (sentiment {sentiment:+.2f}).")
            parts.append("Note: written by the offline analyzer (rule-based, no LLM) from sentences of the articles.")
        return " ".join(parts)[:3000]

    @staticmethod
    def _keywords(ticker: str, company: str | None, ranked: list[StoryInput]) -> list[str]:
        counts: Counter[str] = Counter()
        name_parts = {p.lower() for p in (company or "").split()} | {ticker.lower()}
        for s in ranked:
            for word in _WORD.findall(f"{s.title} {s.description or ''}"):
                w = word.lower().strip("'-")
                if len(w) > 2 and w not in _STOP and w not in name_parts:
                    counts[w] += s.corroboration_count
        frequent = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:7]]
        keywords = [ticker] + ([company] if company else []) + frequent
        for filler in ("news", "stock", "market"):
            if len(set(keywords)) >= 3:
                break
            keywords.append(filler)
        return list(dict.fromkeys(keywords))[:10]

    @staticmethod
    def _anomalies(ranked: list[StoryInput], texts: dict[int, str], ko: bool) -> list[Anomaly]:
        found: dict[str, Anomaly] = {}
        for s in ranked:
            for row, regex in _events():
                if regex.search(texts[s.story_id]):
                    boost = 0.1 if s.corroboration_count >= 3 else 0.0
                    score = round(min(1.0, float(row["score"]) + boost), 3)
                    label = row["label"]
                    if label not in found or found[label].score < score:
                        description = row["description_ko"] if ko else row["description_en"]
                        found[label] = Anomaly(label=label, description=f"{description} — {s.title}"[:500], score=score)
        return sorted(found.values(), key=lambda a: (-a.score, a.label))[:10]

    @staticmethod
    def _glossary(text: str, ko: bool) -> list[GlossaryEntry]:
        entries = []
        for row, regex in _glossary():
            if regex.search(text):
                term = row["term_ko"] if ko and row["term_ko"] else row["term_en"]
                explanation = row["explanation_ko"] if ko else row["explanation_en"]
                entries.append(GlossaryEntry(term=term[:80], explanation=explanation[:400]))
        return entries[:8]

"""BM25 retrieval over a ticker's stored articles, for grounding chat answers.

Each ticker's articles (title twice, description, body) are tokenised and indexed with `bm25s`;
the index is cached per ticker and rebuilt when the ticker's article count or highest id
changes, so newly collected news is searchable at once and unchanged tickers cost one cheap
`count/max` query per question.

Tokens: lower-case ASCII words and numbers (a few English function words dropped), and
Hangul as character bigrams — Korean glues particles and compounds to words (`애플의`,
`생산비중`), and bigrams match their parts without a morphological analyser.

Passages come back best first, at most one per story (near-duplicate copies of one event
from different outlets would otherwise fill every slot), each with the sentences of the
article that best match the question as its snippet.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import bm25s
from cachetools import LRUCache
from sqlalchemy import func, select

from stockteacher.core.text import tokenize
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article

__all__ = ["ArticleRetriever", "Passage"]

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+|(?<=…)")
SNIPPET_CHARS = 320


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved article: what the prompt shows and what a citation points at."""

    article_id: int
    url: str
    title: str
    source: str
    snippet: str
    score: float
    published_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Doc:
    article_id: int
    story_id: int | None
    url: str
    title: str
    source: str
    description: str
    body: str
    published_at: str | None


@dataclass
class _Index:
    signature: tuple[int, int]
    docs: list[_Doc]
    bm25: bm25s.BM25 | None  # None when the ticker has no articles


def _doc(article: Article) -> _Doc:
    return _Doc(
        article_id=int(article.id),
        story_id=article.story_id,
        url=article.url,
        title=article.title,
        source=article.source,
        description=article.description or "",
        body=article.body or "",
        published_at=article.published_at.isoformat() if article.published_at else None,
    )


def _build(signature: tuple[int, int], docs: list[_Doc]) -> _Index:
    if not docs:
        return _Index(signature, docs, None)
    corpus = [tokenize(" ".join((d.title, d.title, d.description, d.body))) or ["_"] for d in docs]
    bm25 = bm25s.BM25()
    bm25.index(corpus, show_progress=False)
    return _Index(signature, docs, bm25)


def snippet(doc: _Doc, query_tokens: Sequence[str], *, limit: int = SNIPPET_CHARS) -> str:
    """The sentences of the article that share the most words with the question."""
    text = " ".join(part for part in (doc.description, doc.body) if part).strip() or doc.title
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    if not sentences:
        return doc.title[:limit]
    wanted = set(query_tokens)
    scores = [len(wanted & set(tokenize(s))) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i)) if wanted else 0
    picked = sentences[best]
    for following in sentences[best + 1 :]:
        if len(picked) + 1 + len(following) > limit:
            break
        picked = f"{picked} {following}"
    return picked if len(picked) <= limit else picked[: limit - 1].rstrip() + "…"


class ArticleRetriever:
    """BM25 over stored articles, one cached index per ticker (thread-safe)."""

    def __init__(self, dsn: str, *, max_tickers: int = 256) -> None:
        self.dsn = dsn
        self._indexes: LRUCache[str, _Index] = LRUCache(maxsize=max_tickers)
        self._lock = threading.Lock()
        self.builds = 0  # how many indexes were built (tests check the cache with it)

    def search(self, ticker: str, query: str, *, k: int, include_article_ids: Iterable[int] = ()) -> list[Passage]:
        """The `k` best-matching articles of `ticker` (plus `include_article_ids`, e.g. the
        report's own sources when they belong to another ticker), best first; only articles
        that share at least one word with `query`."""
        tokens = tokenize(query)
        index = self._index(ticker)
        extra = [i for i in dict.fromkeys(include_article_ids) if i not in {d.article_id for d in index.docs}]
        if extra:  # rare: sources outside the ticker's articles; a one-off index, not cached
            index = _build(index.signature, index.docs + self._load_docs(extra))
        if not tokens or index.bm25 is None:
            return []
        n = len(index.docs)
        ids, scores = index.bm25.retrieve([tokens], k=min(n, max(k * 4, k)), show_progress=False)
        passages: list[Passage] = []
        seen_stories: set[int] = set()
        seen_titles: set[str] = set()
        for position, score in zip(ids[0], scores[0], strict=True):
            if score <= 0:
                break
            doc = index.docs[int(position)]
            title_key = " ".join(tokenize(doc.title))
            if (doc.story_id is not None and doc.story_id in seen_stories) or title_key in seen_titles:
                continue
            if doc.story_id is not None:
                seen_stories.add(doc.story_id)
            seen_titles.add(title_key)
            passages.append(self._passage(doc, tokens, float(score)))
            if len(passages) == k:
                break
        return passages

    def passages_for(self, article_ids: Sequence[int], query: str = "") -> list[Passage]:
        """The given articles as passages (score 0), in the given order; unknown ids skipped."""
        tokens = tokenize(query)
        docs = {d.article_id: d for d in self._load_docs(list(dict.fromkeys(article_ids)))}
        return [self._passage(docs[i], tokens, 0.0) for i in dict.fromkeys(article_ids) if i in docs]

    def forget(self, ticker: str | None = None) -> None:
        with self._lock:
            if ticker is None:
                self._indexes.clear()
            else:
                self._indexes.pop(ticker, None)

    # --- internals ---------------------------------------------------------------------------
    @staticmethod
    def _passage(doc: _Doc, tokens: Sequence[str], score: float) -> Passage:
        return Passage(
            article_id=doc.article_id,
            url=doc.url,
            title=doc.title,
            source=doc.source,
            snippet=snippet(doc, tokens),
            score=round(score, 4),
            published_at=doc.published_at,
        )

    def _signature(self, ticker: str) -> tuple[int, int]:
        with session_scope(self.dsn) as session:
            count, top = session.execute(
                select(func.count(Article.id), func.max(Article.id)).where(Article.ticker == ticker)
            ).one()
        return int(count or 0), int(top or 0)

    def _load_docs(self, article_ids: list[int]) -> list[_Doc]:
        if not article_ids:
            return []
        with session_scope(self.dsn) as session:
            rows = session.execute(select(Article).where(Article.id.in_(article_ids))).scalars().all()
            return [_doc(a) for a in rows]

    def _index(self, ticker: str) -> _Index:
        signature = self._signature(ticker)
        with self._lock:
            cached = self._indexes.get(ticker)
        if cached is not None and cached.signature == signature:
            return cached
        with session_scope(self.dsn) as session:
            rows = session.execute(select(Article).where(Article.ticker == ticker).order_by(Article.id)).scalars()
            docs = [_doc(a) for a in rows]
        # the signature of what was read, so a row added meanwhile triggers the next rebuild
        index = _build((len(docs), max((d.article_id for d in docs), default=0)), docs)
        with self._lock:
            self._indexes[ticker] = index
            self.builds += 1
        return index

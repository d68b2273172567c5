"""BM25 retrieval for chat: English and Korean questions find the right stored article, one
passage per story, snippets from the matching sentences, and the per-ticker index is rebuilt
when the ticker's articles change (and only then). Articles come from the bundled sample news,
collected into the session's PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from stockteacher.chat.retrieval import SNIPPET_CHARS, ArticleRetriever
from stockteacher.core.text import tokenize
from stockteacher.ingest.collect import collect_core
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, utcnow

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    settings = make_settings(postgres_dsn=pg_dsn)
    for ticker in ("AAPL", "TSLA"):
        assert collect_core(ticker, "sample", settings=settings)["saved"] > 0
    return settings


@pytest.fixture
def retriever(settings: Settings) -> ArticleRetriever:
    return ArticleRetriever(settings.dsn)


def titles(passages: list) -> list[str]:
    return [p.title for p in passages]


def test_tokens_are_lowercase_words_and_hangul_bigrams() -> None:
    assert tokenize("What is Apple's EPS in 2026?") == ["apple", "eps", "2026"]  # function words dropped
    assert tokenize("애플의 인도 생산") == ["애플", "플의", "인도", "생산"]
    assert tokenize("EU 반독점 조사, 주가 2% 하락") == ["eu", "반독", "독점", "조사", "주가", "2", "하락"]
    assert tokenize("꽤") == ["꽤"] and tokenize("?!") == []


@pytest.mark.parametrize(
    ("ticker", "question", "expected"),
    [
        ("AAPL", "What does the EU antitrust probe over App Store fees mean?", "antitrust"),
        ("AAPL", "How big is the quarterly dividend per share?", "dividend"),
        ("TSLA", "Why did Tesla recall Model Y vehicles over the seat belt warning?", "recall"),
        ("AAPL", "애플 인도 생산 비중이 뭐예요?", "인도 생산"),
        ("AAPL", "서학개미 순매수가 왜 늘었나요?", "서학개미"),
        ("TSLA", "테슬라 리콜 안전벨트 결함", "리콜"),
    ],
)
def test_the_matching_article_ranks_first(
    retriever: ArticleRetriever, ticker: str, question: str, expected: str
) -> None:
    passages = retriever.search(ticker, question, k=4)
    assert passages, question
    assert expected in passages[0].title.lower(), titles(passages)
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert all(p.score > 0 for p in passages)


def test_passages_are_real_articles_one_per_story_with_matching_snippets(
    retriever: ArticleRetriever, settings: Settings
) -> None:
    passages = retriever.search("AAPL", "EU antitrust investigation App Store fees", k=4)
    with session_scope(settings.dsn) as session:
        rows = {a.id: a for a in session.execute(select(Article).where(Article.ticker == "AAPL")).scalars()}
    stories = [rows[p.article_id].story_id for p in passages]
    assert len(stories) == len(set(stories))  # the antitrust story's copies count once
    copies = [a for a in rows.values() if "antitrust" in a.title.lower()]
    assert len(copies) > 1 and sum("antitrust" in t.lower() for t in titles(passages)) == 1
    best = passages[0]
    article = rows[best.article_id]
    assert (best.url, best.title, best.source) == (article.url, article.title, article.source)
    assert len(best.snippet) <= SNIPPET_CHARS and best.snippet
    assert {"antitrust", "app", "store"} & set(tokenize(best.snippet)) or "investigation" in best.snippet


def test_no_shared_word_means_no_passage(retriever: ArticleRetriever) -> None:
    assert retriever.search("AAPL", "quantum entanglement superconductors", k=4) == []
    assert retriever.search("AAPL", "???", k=4) == []
    assert retriever.search("NOPE", "apple antitrust", k=4) == []


def test_report_sources_of_another_ticker_are_searched_too(retriever: ArticleRetriever, settings: Settings) -> None:
    with session_scope(settings.dsn) as session:
        recall = session.execute(
            select(Article.id).where(Article.ticker == "TSLA", Article.title.ilike("%recall%")).limit(1)
        ).scalar_one()
    assert retriever.search("AAPL", "seat belt recall", k=3) == []
    found = retriever.search("AAPL", "seat belt recall", k=3, include_article_ids=[recall])
    assert [p.article_id for p in found] == [recall]
    (same,) = retriever.passages_for([recall, 10**9], "seat belt")
    assert same.article_id == recall and same.score == 0


def test_the_index_is_cached_per_ticker_and_rebuilt_on_new_articles(
    retriever: ArticleRetriever, settings: Settings
) -> None:
    retriever.search("AAPL", "antitrust", k=2)
    retriever.search("AAPL", "dividend", k=2)
    assert retriever.builds == 1  # unchanged articles: the cached index
    retriever.search("TSLA", "recall", k=2)
    assert retriever.builds == 2
    assert retriever.search("AAPL", "glucose sensor", k=2) == []
    assert retriever.builds == 2
    with session_scope(settings.dsn) as session:
        session.add(
            Article(
                fingerprint="f" * 64,
                ticker="AAPL",
                canonical_url="https://news.example/apple-glucose",
                url="https://news.example/apple-glucose",
                title="Apple tests a glucose sensor for its watch",
                description="A non-invasive glucose sensor is in trials.",
                body="Apple is testing a non-invasive glucose sensor. It could reach the watch in 2028.",
                source="Example News",
                source_type="rss",
                language="en",
                published_at=utcnow(),
                collected_at=utcnow(),
            )
        )
    passages = retriever.search("AAPL", "glucose sensor", k=2)
    assert retriever.builds == 3 and passages[0].title == "Apple tests a glucose sensor for its watch"
    assert "glucose sensor" in passages[0].snippet
    retriever.search("AAPL", "glucose", k=2)
    assert retriever.builds == 3

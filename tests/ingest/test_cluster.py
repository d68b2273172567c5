"""Story clustering on the bundled sample set: MinHash similarity, cluster assignment, and the
end-to-end `collect_core(ticker, "sample")` that stores articles and stories.

The sample set's multi-outlet stories and tracking-decorated duplicates are listed below by
1-based line number; the first tests check those facts against the file itself.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from sqlalchemy import func, select

from stockteacher.ingest.cluster import (
    NUM_PERM,
    assign_clusters,
    from_bytes,
    minhash_signature,
    similarity,
    to_bytes,
)
from stockteacher.ingest.collect import collect_core
from stockteacher.ingest.dedupe import MemoryKeystore
from stockteacher.ingest.normalize import NormalizedArticle, canonical_url, normalize_article
from stockteacher.settings import Settings
from stockteacher.sources.base import RawArticle
from stockteacher.sources.sample import sample_path
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun, Story

THRESHOLD = Settings.model_fields["story_similarity_threshold"].default
TICKERS = ("AAPL", "TSLA", "NVDA", "MSFT", "005930.KS", "000660.KS")
# Multi-outlet stories: (ticker, first line, last line), inclusive, 1-based.
STORIES = (
    ("AAPL", 1, 4),
    ("TSLA", 14, 16),
    ("NVDA", 28, 31),
    ("NVDA", 32, 34),
    ("MSFT", 42, 45),
    ("005930.KS", 55, 57),
    ("005930.KS", 58, 60),
    ("000660.KS", 68, 70),
    ("000660.KS", 71, 73),
)
# Lines that repeat an earlier line under a tracking-decorated (or differently cased) URL.
DUPLICATES = {13: 1, 27: 15, 41: 30, 54: 44, 67: 56, 80: 68}
BABA_LINE = 26  # filed under TSLA, about a chef named Baba


def _story_params() -> list[Any]:
    return [pytest.param(ticker, first, last, id=f"{ticker}-{first}-{last}") for ticker, first, last in STORIES]


def _ticker_params() -> list[Any]:
    return [pytest.param(t, id=t) for t in TICKERS]


# --- the sample file -------------------------------------------------------------------------


@cache
def _lines() -> dict[int, dict[str, Any]]:
    with open(sample_path(), encoding="utf-8") as fh:
        return {n: json.loads(line) for n, line in enumerate(fh, start=1) if line.strip()}


@cache
def _article(n: int) -> NormalizedArticle:
    row = _lines()[n]
    raw = RawArticle(
        title=row["title"],
        url=row["url"],
        description=row.get("description"),
        body=row.get("content"),
        source_name=row.get("source_name"),
        published_at=row.get("published_at"),
        language=row.get("language"),
        author=row.get("author"),
    )
    return normalize_article(raw, ticker=row["ticker"], source_type="sample")


def _signature(n: int) -> np.ndarray:
    return minhash_signature(_article(n).as_text())


def _ticker_lines(ticker: str) -> list[int]:
    return [n for n, row in _lines().items() if row["ticker"] == ticker]


def _distinct_lines(ticker: str) -> list[int]:
    """The ticker's lines that are about the company and not a repeat of an earlier line."""
    return [n for n in _ticker_lines(ticker) if n not in DUPLICATES and n != BABA_LINE]


def _story_of(n: int) -> tuple[int, int] | int:
    """The (first, last) lines of the multi-outlet story of line `n`, or `n` for a single article."""
    n = DUPLICATES.get(n, n)
    for _, first, last in STORIES:
        if first <= n <= last:
            return (first, last)
    return n


def _group(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


def _stories_of(ticker: str) -> list[tuple[int, int]]:
    return [(first, last) for t, first, last in STORIES if t == ticker]


def _expected_story_count(ticker: str) -> int:
    return len(_distinct_lines(ticker)) - sum(last - first for first, last in _stories_of(ticker))


def test_sample_file_has_the_tickers_and_lines_the_tests_assume() -> None:
    lines = _lines()
    assert len(lines) == 80
    assert {row["ticker"] for row in lines.values()} == set(TICKERS)
    for ticker, first, last in STORIES:
        rows = [lines[n] for n in _group(first, last)]
        assert {r["ticker"] for r in rows} == {ticker}
        # one story told by several outlets: each line from a different outlet
        sources = [r["source_name"] for r in rows]
        assert len(set(sources)) == len(sources) > 1, (first, last)


def _bare(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc.lower(), parts.path


def test_sample_duplicate_lines_repeat_an_earlier_line_under_a_decorated_url() -> None:
    lines = _lines()
    for dup, original in DUPLICATES.items():
        a, b = lines[original], lines[dup]
        assert dup > original
        assert a["ticker"] == b["ticker"]
        assert (a["title"], a["description"], a["source_name"]) == (b["title"], b["description"], b["source_name"])
        assert a["url"] != b["url"]
        assert _bare(a["url"]) == _bare(b["url"])
        extra = urlsplit(b["url"])
        assert (
            extra.fragment
            or "utm_" in extra.query
            or "fbclid" in extra.query
            or extra.netloc != urlsplit(a["url"]).netloc
        )


def test_sample_has_no_other_repeated_urls() -> None:
    seen: dict[tuple[str, str, str, str], list[int]] = {}
    for n, row in _lines().items():
        host, path = _bare(row["url"])
        query = "&".join(p for p in urlsplit(row["url"]).query.split("&") if p and not p.startswith(("utm_", "fbclid")))
        seen.setdefault((row["ticker"], host, path, query), []).append(n)
    repeated = sorted(tuple(v) for v in seen.values() if len(v) > 1)
    assert repeated == sorted((original, dup) for dup, original in DUPLICATES.items())


def test_sample_baba_line_is_about_a_chef_not_tesla() -> None:
    row = _lines()[BABA_LINE]
    text = " ".join(row[k] for k in ("title", "description", "content"))
    assert row["ticker"] == "TSLA"
    assert "Baba" in text
    assert not any(word in text for word in ("Tesla", "TSLA", "테슬라"))


# --- similarity ------------------------------------------------------------------------------


def test_default_threshold_is_one_half() -> None:
    assert THRESHOLD == 0.5


@pytest.mark.parametrize(("ticker", "first", "last"), _story_params())
def test_syndicated_copies_reach_default_threshold(ticker: str, first: int, last: int) -> None:
    pairs = itertools.combinations(_group(first, last), 2)
    scores = {(a, b): similarity(_signature(a), _signature(b)) for a, b in pairs}
    low = {pair: s for pair, s in scores.items() if s < THRESHOLD}
    assert low == {}


@pytest.mark.parametrize("ticker", _ticker_params())
def test_distinct_stories_of_same_ticker_stay_below_threshold(ticker: str) -> None:
    lines = _distinct_lines(ticker)
    high = {
        (a, b): s
        for a, b in itertools.combinations(lines, 2)
        if _story_of(a) != _story_of(b) and (s := similarity(_signature(a), _signature(b))) >= THRESHOLD
    }
    assert high == {}


def test_tracking_duplicates_have_identical_signatures() -> None:
    for dup, original in DUPLICATES.items():
        assert similarity(_signature(dup), _signature(original)) == 1.0


# --- assign_clusters on the sample -----------------------------------------------------------


def _clusters(ticker: str) -> dict[int, int]:
    """Cluster each distinct article of `ticker`, in publication order as repository.py does."""
    lines = sorted(_distinct_lines(ticker), key=lambda n: (_article(n).published_at, n))
    ids = assign_clusters([_signature(n) for n in lines], [], threshold=THRESHOLD)
    return dict(zip(lines, ids, strict=True))


@pytest.mark.parametrize(("ticker", "first", "last"), _story_params())
def test_assign_clusters_puts_each_multi_outlet_story_in_one_cluster(ticker: str, first: int, last: int) -> None:
    clusters = _clusters(ticker)
    assert {n: clusters[n] for n in _group(first, last)} == dict.fromkeys(_group(first, last), clusters[first])


@pytest.mark.parametrize("ticker", _ticker_params())
def test_assign_clusters_keeps_distinct_stories_apart(ticker: str) -> None:
    clusters = _clusters(ticker)
    merged = [
        (a, b)
        for a, b in itertools.combinations(clusters, 2)
        if _story_of(a) != _story_of(b) and clusters[a] == clusters[b]
    ]
    assert merged == []


@pytest.mark.parametrize("ticker", _ticker_params())
def test_assign_clusters_finds_one_cluster_per_story(ticker: str) -> None:
    assert len(set(_clusters(ticker).values())) == _expected_story_count(ticker)


# --- assign_clusters, synthetic --------------------------------------------------------------

_ALPHA = "Acme Robotics agrees to buy drone maker Skylark for two billion dollars in cash"
_ALPHA_COPY = "Acme Robotics agrees to buy drone maker Skylark for two billion dollars in cash deal"
_BETA = "Quarterly dividend declared by the board, unchanged from the previous quarter"
_GAMMA = "Regulators open an inquiry into cloud licensing practices across Europe"


def test_assign_clusters_gives_new_stories_negative_placeholders() -> None:
    sigs = [minhash_signature(t) for t in (_ALPHA, _BETA, _ALPHA_COPY, _GAMMA)]
    assert assign_clusters(sigs, [], threshold=THRESHOLD) == [-1, -2, -1, -3]


def test_assign_clusters_joins_existing_story() -> None:
    existing = [(minhash_signature(_ALPHA), 41), (minhash_signature(_BETA), 42)]
    result = assign_clusters([minhash_signature(_ALPHA_COPY), minhash_signature(_GAMMA)], existing, threshold=THRESHOLD)
    assert result == [41, -1]


def test_assign_clusters_with_nothing_new_is_empty() -> None:
    assert assign_clusters([], [(minhash_signature(_ALPHA), 1)], threshold=THRESHOLD) == []


def test_assign_clusters_respects_threshold() -> None:
    a, b = minhash_signature(_ALPHA), minhash_signature(_BETA)
    assert assign_clusters([b], [(a, 7)], threshold=THRESHOLD) == [-1]
    assert assign_clusters([b], [(a, 7)], threshold=similarity(a, b)) == [7]


# --- signatures ------------------------------------------------------------------------------


def test_signatures_are_deterministic_across_calls() -> None:
    text = _article(1).as_text()
    first = minhash_signature(text)
    for _ in range(3):
        assert np.array_equal(minhash_signature(text), first)
    assert np.array_equal(minhash_signature(_article(55).as_text()), minhash_signature(_article(55).as_text()))


def test_signature_shape_and_type() -> None:
    sig = minhash_signature("Apple faces EU antitrust probe")
    assert sig.dtype == np.uint64 and sig.shape == (NUM_PERM,)
    assert similarity(sig, sig) == 1.0
    assert not np.array_equal(sig, minhash_signature("Tesla recalls Model Y vehicles"))


@pytest.mark.parametrize("text", ["Apple faces EU antitrust probe", "삼성전자, HBM4 공급 계약 체결", ""])
def test_signature_bytes_round_trip(text: str) -> None:
    sig = minhash_signature(text)
    blob = to_bytes(sig)
    assert isinstance(blob, bytes) and len(blob) == 8 * NUM_PERM
    back = from_bytes(blob)
    assert back.dtype == np.uint64
    assert np.array_equal(back, sig)
    assert similarity(back, sig) == 1.0


# --- end to end: collect_core(ticker, "sample") ------------------------------------------------


def _collect(settings: Settings, ticker: str, **kwargs: Any) -> dict[str, int]:
    return collect_core(ticker, "sample", settings=settings, **kwargs)


def _articles(dsn: str, ticker: str) -> list[Article]:
    with session_scope(dsn) as session:
        return list(session.scalars(select(Article).where(Article.ticker == ticker)))


def _stories(dsn: str, ticker: str) -> dict[int, Story]:
    with session_scope(dsn) as session:
        return {s.id: s for s in session.scalars(select(Story).where(Story.ticker == ticker))}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_dsn: str) -> Settings:
    return make_settings(postgres_dsn=sqlite_dsn)


@pytest.mark.parametrize("ticker", TICKERS)
def test_collect_saves_each_distinct_article_once(settings: Settings, ticker: str) -> None:
    distinct = len(_distinct_lines(ticker))
    assert _collect(settings, ticker) == {"fetched": len(_ticker_lines(ticker)), "unique": distinct, "saved": distinct}
    articles = _articles(settings.dsn, ticker)
    assert len(articles) == distinct
    assert {a.canonical_url for a in articles} == {_article(n).canonical_url for n in _distinct_lines(ticker)}


@pytest.mark.parametrize("ticker", _ticker_params())
def test_collect_creates_one_story_per_distinct_story(settings: Settings, ticker: str) -> None:
    _collect(settings, ticker)
    stories = _stories(settings.dsn, ticker)
    assert len(stories) == _expected_story_count(ticker)
    assert sum(s.article_count for s in stories.values()) == len(_distinct_lines(ticker))


@pytest.mark.parametrize(("ticker", "first", "last"), _story_params())
def test_collect_story_corroboration_counts_distinct_outlets(
    settings: Settings, ticker: str, first: int, last: int
) -> None:
    _collect(settings, ticker)
    by_url = {a.canonical_url: a for a in _articles(settings.dsn, ticker)}
    story_ids = {by_url[_article(n).canonical_url].story_id for n in _group(first, last)}
    assert len(story_ids) == 1
    story = _stories(settings.dsn, ticker)[story_ids.pop()]  # type: ignore[index]
    outlets = {_lines()[n]["source_name"] for n in _group(first, last)}
    assert story.corroboration_count == len(outlets)
    assert story.article_count == last - first + 1


@pytest.mark.parametrize("ticker", TICKERS)
def test_collect_single_outlet_stories_have_corroboration_one(settings: Settings, ticker: str) -> None:
    _collect(settings, ticker)
    by_url = {a.canonical_url: a for a in _articles(settings.dsn, ticker)}
    stories = _stories(settings.dsn, ticker)
    singles = [n for n in _distinct_lines(ticker) if isinstance(_story_of(n), int)]
    assert singles
    for n in singles:
        article = by_url[_article(n).canonical_url]
        assert article.story_id is not None
        story = stories[article.story_id]
        assert (story.article_count, story.corroboration_count) == (1, 1), n
        assert story.representative_article_id == article.id


def test_collect_every_article_belongs_to_a_story_and_keeps_its_signature(settings: Settings) -> None:
    for ticker in TICKERS:
        _collect(settings, ticker)
    for ticker in TICKERS:
        by_url = {a.canonical_url: a for a in _articles(settings.dsn, ticker)}
        for n in _distinct_lines(ticker):
            article = by_url[_article(n).canonical_url]
            assert article.story_id is not None
            assert article.minhash is not None
            assert np.array_equal(from_bytes(article.minhash), _signature(n))


def test_collect_does_not_save_the_baba_line(settings: Settings) -> None:
    _collect(settings, "TSLA")
    baba_url = _article(BABA_LINE).canonical_url
    articles = _articles(settings.dsn, "TSLA")
    assert baba_url not in {a.canonical_url for a in articles}
    assert not any("Baba" in a.title or "Baba" in (a.description or "") for a in articles)
    with session_scope(settings.dsn) as session:
        run = session.scalars(select(JobRun).where(JobRun.ticker == "TSLA")).one()
    assert run.status == "SUCCEEDED"
    assert run.details is not None and run.details["irrelevant"] == 1


@pytest.mark.parametrize("ticker", TICKERS)
def test_collect_does_not_store_tracking_duplicates_twice(settings: Settings, ticker: str) -> None:
    _collect(settings, ticker)
    articles = _articles(settings.dsn, ticker)
    counts = Counter(a.canonical_url for a in articles)
    assert [url for url, c in counts.items() if c > 1] == []
    for dup, original in DUPLICATES.items():
        if _lines()[dup]["ticker"] == ticker:
            assert counts[canonical_url(_lines()[original]["url"])] == 1
            assert counts[canonical_url(_lines()[dup]["url"])] == 1


def _totals(dsn: str) -> tuple[int, int]:
    with session_scope(dsn) as session:
        return (
            session.scalar(select(func.count()).select_from(Article)) or 0,
            session.scalar(select(func.count()).select_from(Story)) or 0,
        )


def test_collect_twice_saves_nothing_the_second_time(settings: Settings) -> None:
    first = {t: _collect(settings, t) for t in TICKERS}
    totals = _totals(settings.dsn)
    assert totals[0] == sum(r["saved"] for r in first.values()) > 0
    second = {t: _collect(settings, t) for t in TICKERS}
    assert all(r["saved"] == 0 and r["unique"] == 0 for r in second.values()), second
    assert all(second[t]["fetched"] == first[t]["fetched"] for t in TICKERS)
    assert _totals(settings.dsn) == totals


def test_collect_twice_with_a_fresh_keystore_is_stopped_by_the_database(settings: Settings) -> None:
    _collect(settings, "AAPL")
    totals = _totals(settings.dsn)
    again = _collect(settings, "AAPL", keystore=MemoryKeystore(60))
    assert again["unique"] == len(_distinct_lines("AAPL"))  # the new keystore had seen nothing
    assert again["saved"] == 0
    assert _totals(settings.dsn) == totals


@pytest.mark.postgres
def test_collect_on_postgresql_matches_sqlite(
    make_settings: Callable[..., Settings], sqlite_dsn: str, pg_dsn: str
) -> None:
    def summary(dsn: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        settings = make_settings(postgres_dsn=dsn)
        for ticker in TICKERS:
            counts = _collect(settings, ticker)
            stories = _stories(dsn, ticker).values()
            out[ticker] = (counts, sorted((s.article_count, s.corroboration_count) for s in stories))
        return out

    assert summary(pg_dsn) == summary(sqlite_dsn)


def test_our_permutations_are_datasketchs_own_and_collecting_does_not_import_it() -> None:
    """The batch MinHash draws datasketch's permutation parameters itself (importing datasketch
    imports scipy: a second of every collector process's start); they must stay datasketch's."""
    import subprocess
    import sys

    from datasketch import MinHash

    from stockteacher.ingest import cluster

    a, b, empty = cluster._permutations()
    reference = MinHash(num_perm=cluster.NUM_PERM, seed=cluster._SEED)
    assert np.array_equal(a, reference.permutations[0]) and np.array_equal(b, reference.permutations[1])
    assert np.array_equal(empty, reference.hashvalues) and empty.dtype == reference.hashvalues.dtype
    probe = "import sys, stockteacher.ingest.collect; print('datasketch' in sys.modules, 'scipy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "False"]

"""The plain parts of a backfill (no Ray): finding and checking input files, one block's rows
prepared into articles with bad rows counted by reason, one ticker's group stored (and the
counting rows summed), storing per ticker (a rerun stores nothing), the batch MinHash and date-windowed clustering."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from stockteacher.ingest.backfill import (
    InputError,
    Tally,
    check_columns,
    find_inputs,
    prepare_block,
    read_block,
    store_group,
    store_ticker,
)
from stockteacher.ingest.cluster import assign_clusters, minhash_signature, minhash_signatures
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article
from stockteacher.tickers.registry import TickerInfo

SettingsFactory = Callable[..., Settings]


def article_row(i: int, ticker: str = "AAPL", name: str = "Apple", **extra: object) -> dict[str, object]:
    return {
        "ticker": ticker,
        "title": f"{name} opens store number {i} in Seoul",
        "url": f"https://news.example/{ticker.lower()}/{i}?utm_source=feed",
        "description": f"{name} said the store is its {i}th.",
        "published_at": f"2026-11-{1 + i % 28:02d}T10:00:00Z",
        "source_name": "A Wire",
        **extra,
    }


BAD_ROWS = [
    {"ticker": "AAPL", "title": None, "url": "https://news.example/x"},  # no_title
    {"ticker": "AAPL", "title": "Apple news", "url": "ftp://news.example/x"},  # bad_url
    {"ticker": None, "title": "Apple news", "url": "https://news.example/y"},  # no_ticker
    {"ticker": "not a ticker!", "title": "Apple news", "url": "https://news.example/z"},  # bad_ticker
]


def prepared(rows: list[dict[str, object]], **kwargs: object) -> tuple[list[object], Counter[str]]:
    table = pa.Table.from_pylist(rows)
    articles, drops = read_block(prepare_block(table, kind="parquet", **kwargs))  # type: ignore[arg-type]
    return articles, drops


def test_a_block_keeps_good_rows_and_counts_every_bad_one_by_reason() -> None:
    rows = [article_row(i) for i in range(5)] + [article_row(0)] + BAD_ROWS
    rows.append({"ticker": "AAPL", "title": "A chef called Baba cooks", "url": "https://food.example/1"})
    articles, drops = prepared(rows)
    assert len(articles) == 5
    assert drops == Counter(rows=len(rows), duplicate=1, irrelevant=1, no_title=1, bad_url=1, no_ticker=1, bad_ticker=1)
    article, signature = articles[0]  # type: ignore[misc]
    assert article.ticker == "AAPL" and "utm_source" not in article.canonical_url
    assert article.published_at == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert np.array_equal(signature, minhash_signature(article.as_text()))


def test_the_tickers_filter_runs_before_normalising_and_accepts_any_spelling() -> None:
    rows = [
        article_row(1),
        article_row(2, ticker="msft", name="Microsoft"),
        article_row(3, ticker="TSLA", name="Tesla"),
    ]
    rows.append({"ticker": "AAPL", "title": None, "url": "https://news.example/bad"})  # filtered in, counted bad
    articles, drops = prepared(rows, wanted=frozenset({"MSFT", "AAPL"}))
    assert sorted(a.ticker for a, _ in articles) == ["AAPL", "MSFT"]  # type: ignore[attr-defined]
    assert drops == Counter(rows=4, no_title=1)  # TSLA was filtered out, not counted bad


def test_json_lines_with_wrong_types_and_broken_lines_are_bad_rows_not_errors() -> None:
    lines = [
        json.dumps(article_row(1)),
        json.dumps({**article_row(2), "title": 123}),
        json.dumps({**article_row(3), "url": ["https://x.example"]}),
        "{not json",
        "[1, 2]",
        json.dumps({**article_row(4), "link": "https://news.example/link/4", "url": None}),
    ]
    table = pa.table({"text": lines})
    articles, drops = read_block(prepare_block(table, kind="jsonl"))
    assert len(articles) == 1
    assert drops == Counter(rows=6, wrong_type=2, malformed=2, bad_url=1)


def test_a_lone_surrogate_in_json_lines_is_replaced_and_the_block_kept() -> None:
    """`"\\ud800"` is valid JSON and no character: it once failed its whole block where text is
    encoded (shingling); the row is kept with U+FFFD and its neighbours with it."""
    broken = json.dumps({**article_row(2), "title": article_row(2)["title"] + " \ud800 up"})
    assert "\\ud800" in broken  # json.dumps escapes it as JSON files do
    table = pa.table({"text": [json.dumps(article_row(1)), broken, json.dumps(article_row(3))]})
    articles, drops = read_block(prepare_block(table, kind="jsonl"))
    assert len(articles) == 3 and drops == Counter(rows=3)
    titles = [a.title for a, _ in articles]  # type: ignore[attr-defined]
    assert any("\ufffd up" in t for t in titles) and all(t.encode("utf-8") for t in titles)


def test_rows_without_a_ticker_column_are_read_for_every_given_ticker() -> None:
    rows = [{k: v for k, v in article_row(1, name="Apple and Microsoft").items() if k != "ticker"}]
    articles, _ = prepared(rows, untagged=("AAPL", "MSFT"))
    assert sorted(a.ticker for a, _ in articles) == ["AAPL", "MSFT"]  # type: ignore[attr-defined]


def test_inputs_a_directory_may_mix_formats_and_a_missing_column_is_one_line(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist([article_row(1)]), tmp_path / "a.parquet")
    (tmp_path / "b.jsonl").write_text(json.dumps(article_row(2)) + "\n")
    (tmp_path / "c.csv").write_text("ticker,title,url\nAAPL,Apple news,https://x.example/1\n")
    (tmp_path / "notes.txt").write_text("not data")
    (tmp_path / "_SUCCESS").write_text("")
    inputs = check_columns(find_inputs(str(tmp_path)), tickers_given=False)
    assert sorted(inputs.files) == ["csv", "jsonl", "parquet"] and inputs.count == 3
    assert [Path(p).name for p in inputs.skipped] == ["notes.txt"]
    assert "ticker" in inputs.columns["parquet"]
    assert find_inputs(f"file://{tmp_path}").count == 3  # a URI lists the same files

    (tmp_path / "d.csv").write_text("ticker,headline,link\nAAPL,x,https://x.example/1\n")
    with pytest.raises(
        InputError, match=r"^d\.csv is missing required column\(s\) title; it has: ticker, headline, link$"
    ):
        check_columns(find_inputs(str(tmp_path)), tickers_given=False)
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        find_inputs(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="unsupported file type"):
        find_inputs(str(tmp_path / "notes.txt"))
    (tmp_path / "d.csv").unlink()
    untagged = tmp_path / "untagged.csv"
    untagged.write_text("title,url\nApple news,https://x.example/1\n")
    with pytest.raises(InputError, match="has no 'ticker' column; pass --tickers"):
        check_columns(find_inputs(str(untagged)), tickers_given=False)


def test_a_group_of_blocks_is_stored_once_per_fingerprint_and_the_counting_rows_are_summed(
    make_settings: SettingsFactory, sqlite_dsn: str
) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn)
    blocks = [
        prepare_block(pa.Table.from_pylist([article_row(i) for i in range(3)] + BAD_ROWS[:1]), kind="parquet"),
        prepare_block(pa.Table.from_pylist([article_row(2), article_row(3)]), kind="parquet"),  # 2 again
    ]
    merged = pa.concat_tables(blocks)
    tally = Tally()
    for ticker in ("AAPL", ""):  # what groupby("ticker") hands to store_group
        group = merged.filter(pc.equal(merged.column("ticker"), ticker))
        for row in store_group(group, settings=settings, trace_id="t1").to_pylist():
            tally.add_stored(row)
    counts = tally.counts()
    assert counts["rows"] == 6 and counts["invalid_reasons"] == {"no_title": 1}
    assert counts["duplicates"] == 1 and counts["unique"] == counts["saved"] == 4 and counts["tickers"] == 1


@pytest.mark.parametrize("database", ["pg_dsn", "sqlite_dsn"])
def test_storing_per_ticker_is_idempotent_and_clusters_by_the_articles_dates(
    make_settings: SettingsFactory, database: str, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(postgres_dsn=request.getfixturevalue(database))
    same = "Apple opens a flagship store in Seoul's Gangnam district"
    rows = [
        {"ticker": "AAPL", "title": same, "url": f"https://{host}.example/a", "published_at": date}
        for host, date in (
            ("one", "2025-03-01T10:00:00Z"),
            ("two", "2025-03-01T12:00:00Z"),
            ("three", "2026-03-01T10:00:00Z"),
        )
    ]
    articles, _ = prepared(rows)
    first = store_ticker(settings, "AAPL", articles, trace_id="t1")  # type: ignore[arg-type]
    assert first.saved == 3 and first.new_stories == 2  # a year apart: not one story
    with session_scope(settings.dsn) as session:
        stories = session.execute(select(Article.story_id).order_by(Article.published_at)).scalars().all()
    assert stories[0] == stories[1] != stories[2]
    again = store_ticker(settings, "AAPL", articles, trace_id="t2")  # type: ignore[arg-type]
    assert again.saved == 0


def test_batch_minhash_equals_datasketch_on_every_kind_of_text_from_a_cold_and_a_warm_cache() -> None:
    # Each path of the vectorised batch: 4-grams, Hangul 2-grams, texts no longer than one
    # shingle, 4-grams beyond the Basic Multilingual Plane (one by one), NFKC and case folding,
    # repeated shingles; the second call finds every shingle hash in the cache.
    texts = [
        "",
        " ",
        "a",
        "ab",
        "abcd",
        "abcde",
        "삼",
        "삼성",
        "삼성전자, 실적 발표 후 주가 상승 3",
        "😀😀😀😀😀",
        "a😀bcd rises",
        "ＡＢＣＤ ﬁnance Ⅻ",
        "STRASSE straße",
        "...",
        "a.b",
        "Apple" * 40,
        "Samsung 삼성 mixes scripts",
        "e\u0301clair éclair",
    ]
    want = np.stack([minhash_signature(t) for t in texts])
    for _ in range(2):
        got = minhash_signatures(texts)
        assert got.dtype == np.uint64 and np.array_equal(got, want)


def test_batch_minhash_equals_datasketch_and_windowed_clusters_respect_time() -> None:
    texts = ["Apple opens a store", "", "삼성전자 신고가", "ab", "Apple opens a store!", "x" * 300]
    assert np.array_equal(minhash_signatures(texts), np.stack([minhash_signature(t) for t in texts]))
    assert minhash_signatures([]).shape == (0, 64)
    sig = minhash_signature("Apple opens a flagship store in Seoul")
    day = timedelta(days=1).total_seconds()
    unwindowed = assign_clusters([sig, sig], [(sig, 7)], threshold=0.5)
    windowed = assign_clusters(
        [sig, sig], [(sig, 7)], threshold=0.5, new_times=[0, 10 * day], existing_times=[0], window_seconds=3 * day
    )
    assert unwindowed == [7, 7] and windowed == [7, -1]


def test_the_operators_tickers_reach_the_relevance_check_in_the_workers() -> None:
    rows = [{"ticker": "ZZQ", "title": "Zeta Robotics opens a plant", "url": "https://news.example/zeta/1"}]
    _, drops = prepared(rows)
    assert drops["irrelevant"] == 1
    articles, _ = prepared(rows, added=(TickerInfo(symbol="ZZQ", name_en="Zeta Robotics"),))
    assert len(articles) == 1
    prepared([], added=())  # back to the bundled registry for the other tests

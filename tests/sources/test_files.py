"""The `file` source (JSON Lines, CSV, Parquet through polars) and the bundled `sample` set."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from stockteacher.ingest.collect import prepare_articles
from stockteacher.ingest.normalize import normalize_article
from stockteacher.settings import Settings
from stockteacher.sources import build_source
from stockteacher.sources.base import MalformedResponseError, RawArticle, SourceConfigError
from stockteacher.sources.sample import sample_path
from stockteacher.tickers.registry import lookup

SettingsFactory = Callable[..., Settings]

ROWS = [
    {
        "ticker": "AAPL",
        "title": "Apple opens a store in Seoul",
        "url": "https://a.example/apple/1",
        "description": "Apple's new store.",
        "content": "Full text about Apple.",
        "source_name": "A Wire",
        "published_at": "2026-11-20T10:00:00Z",
        "language": "en",
        "author": "Kim",
    },
    {
        "ticker": "msft",
        "title": "Microsoft ships an update",
        "url": "https://a.example/msft/1",
        "description": None,
        "content": None,
        "source_name": "A Wire",
        "published_at": "2026-11-20T11:00:00+09:00",
        "language": "en",
        "author": None,
    },
    {
        "ticker": "AAPL",
        "title": "애플, 한국 매출 증가",
        "url": "https://k.example/apple/2",
        "description": "애플의 한국 매출이 늘었다",
        "content": None,
        "source_name": "K 뉴스",
        "published_at": "Mon, 23 Nov 2026 09:30:00 +0900",
        "language": "ko",
        "author": None,
    },
    {
        "ticker": "005930",
        "title": "삼성전자 신고가",
        "url": "https://k.example/samsung/1",
        "description": None,
        "content": None,
        "source_name": "K 뉴스",
        "published_at": "2026-11-21T00:00:00Z",
        "language": "ko",
        "author": None,
    },
]


def fetch(settings: Settings, path: Path | str, symbol: str = "AAPL") -> list[RawArticle]:
    return asyncio.run(build_source("file", settings, path=path).fetch(lookup(symbol)))


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    pl.DataFrame(rows).write_ndjson(path)
    return path


def test_jsonl_rows_of_the_ticker_only(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "articles.jsonl", ROWS)
    articles = fetch(make_settings(), path, "AAPL")

    assert [a.url for a in articles] == ["https://a.example/apple/1", "https://k.example/apple/2"]
    first = articles[0]
    assert (first.title, first.description, first.body, first.source_name, first.language, first.author) == (
        "Apple opens a store in Seoul",
        "Apple's new store.",
        "Full text about Apple.",
        "A Wire",
        "en",
        "Kim",
    )
    assert articles[1].title == "애플, 한국 매출 증가" and articles[1].source_name == "K 뉴스"

    prepared = prepare_articles(articles, lookup("AAPL"), source_type="file")
    assert prepared.invalid == 0 and len(prepared.articles) == 2
    assert prepared.articles[1].published_at == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)


def test_ticker_column_is_normalised_before_filtering(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "articles.jsonl", ROWS)

    assert [a.url for a in fetch(make_settings(), path, "MSFT")] == ["https://a.example/msft/1"]  # "msft"
    assert [a.url for a in fetch(make_settings(), path, "005930.KS")] == ["https://k.example/samsung/1"]  # "005930"
    assert fetch(make_settings(), path, "TSLA") == []


def test_file_without_ticker_column_is_read_whole(make_settings: SettingsFactory, tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "ticker"} for row in ROWS]
    path = write_jsonl(tmp_path / "all.ndjson", rows)

    assert len(fetch(make_settings(), path, "AAPL")) == len(ROWS)


def test_csv_with_aliased_columns(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = tmp_path / "articles.csv"
    pl.DataFrame(
        {
            "ticker": ["AAPL", "NVDA", "AAPL"],
            "title": ['Apple, Inc. "beats" estimates', "Nvidia record", "애플 신제품"],
            "link": ["https://c.example/1", "https://c.example/2", "https://c.example/3"],
            "body": ["Body one, with a comma", "Body two", "본문 셋"],
            "publishedAt": ["2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", "2026-11-22T01:02:03+09:00"],
            "source": ["C Wire", "C Wire", "C 뉴스"],
        }
    ).write_csv(path)
    articles = fetch(make_settings(), path, "AAPL")

    assert [a.url for a in articles] == ["https://c.example/1", "https://c.example/3"]
    assert articles[0].title == 'Apple, Inc. "beats" estimates'
    assert articles[0].body == "Body one, with a comma"
    assert articles[0].published_at == "2026-11-20T10:00:00Z"
    assert articles[1].source_name == "C 뉴스" and articles[1].body == "본문 셋"
    normalised = normalize_article(articles[1], ticker="AAPL", source_type="file")
    assert normalised.published_at == datetime(2026, 11, 21, 16, 2, 3, tzinfo=UTC)


def test_content_wins_over_body_when_both_exist(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "both.jsonl",
        [
            {"title": "Apple t", "url": "https://b.example/1", "content": "the content", "body": "the body"},
        ],
    )
    assert fetch(make_settings(), path)[0].body == "the content"


def test_parquet_with_typed_timestamps(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = tmp_path / "articles.parquet"
    pl.DataFrame(
        {
            "ticker": ["AAPL", "AAPL", "NVDA"],
            "title": ["Apple in parquet", "Apple later", "Nvidia in parquet"],
            "url": ["https://p.example/1", "https://p.example/2", "https://p.example/3"],
            "published_at": [
                datetime(2026, 11, 20, 10, 0),
                datetime(2026, 11, 20, 12, 30),
                datetime(2026, 11, 20, 13, 0),
            ],
        }
    ).with_columns(pl.col("published_at").dt.replace_time_zone("Asia/Seoul")).write_parquet(path)
    articles = fetch(make_settings(), path)

    assert [a.title for a in articles] == ["Apple in parquet", "Apple later"]
    assert isinstance(articles[0].published_at, datetime)
    prepared = prepare_articles(articles, lookup("AAPL"), source_type="file")
    assert [a.published_at for a in prepared.articles] == [
        datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 3, 30, tzinfo=UTC),
    ]


def test_parquet_naive_timestamps_are_taken_as_utc(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = tmp_path / "naive.pq"
    pl.DataFrame(
        {"title": ["Apple naive"], "url": ["https://p.example/n"], "published_at": [datetime(2026, 11, 20, 10, 0)]}
    ).write_parquet(path)
    article = normalize_article(fetch(make_settings(), path)[0], ticker="AAPL", source_type="file")
    assert article.published_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_path_template_takes_the_ticker(make_settings: SettingsFactory, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "005930.KS.jsonl", [{"title": "삼성전자 소식", "url": "https://k.example/s"}])
    settings = make_settings(file_source_path=str(tmp_path / "{ticker}.jsonl"))
    articles = asyncio.run(build_source("file", settings).fetch(lookup("005930")))

    assert [a.url for a in articles] == ["https://k.example/s"]


@pytest.mark.parametrize(
    ("columns", "missing"),
    [({"title": ["Apple"]}, ["url"]), ({"description": ["x"]}, ["title", "url"])],
)
def test_missing_required_column_is_malformed_and_named(
    make_settings: SettingsFactory, tmp_path: Path, columns: dict[str, list[str]], missing: list[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    pl.DataFrame(columns).write_ndjson(path)
    with pytest.raises(MalformedResponseError) as info:
        fetch(make_settings(), path)

    message = str(info.value)
    assert info.value.code == "missing_column"
    assert f"column(s) {', '.join(missing)}" in message


def test_missing_url_column_in_csv(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = tmp_path / "no_url.csv"
    path.write_text("ticker,title,published_at\nAAPL,Apple thing,2026-11-20T10:00:00Z\n", encoding="utf-8")
    with pytest.raises(MalformedResponseError, match=r"missing required column\(s\) url"):
        fetch(make_settings(), path)


@pytest.mark.parametrize(
    ("name", "content"), [("garbage.parquet", b"not a parquet file"), ("garbage.jsonl", b"{not json\n")]
)
def test_unreadable_file_is_malformed(
    make_settings: SettingsFactory, tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MalformedResponseError):
        fetch(make_settings(), path)


@pytest.mark.parametrize("name", ["articles.txt", "articles.xlsx", "articles"])
def test_unsupported_extension_is_a_config_error(make_settings: SettingsFactory, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"title": "Apple", "url": "https://x.example/1"}\n', encoding="utf-8")
    with pytest.raises(SourceConfigError) as info:
        fetch(make_settings(), path)
    assert info.value.code == "unsupported_format"


def test_missing_file_is_a_config_error(make_settings: SettingsFactory, tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError) as info:
        fetch(make_settings(), tmp_path / "nowhere.jsonl")
    assert info.value.code == "file_not_found"


def test_no_path_is_a_config_error(make_settings: SettingsFactory) -> None:
    with pytest.raises(SourceConfigError):
        asyncio.run(build_source("file", make_settings()).fetch(lookup("AAPL")))


# --- the bundled sample set ------------------------------------------------------------------


def test_sample_set_is_large_varied_and_synthetic() -> None:
    records = [json.loads(line) for line in sample_path().read_text(encoding="utf-8").splitlines() if line.strip()]

    assert len(records) >= 60
    tickers = {r["ticker"] for r in records}
    assert len(tickers) >= 5
    assert "005930.KS" in tickers
    assert any(r.get("language") == "ko" for r in records)
    assert all(r.get("synthetic") is True for r in records)
    assert all(r.get("title") and r.get("url", "").startswith("https://") for r in records)


def test_sample_source_serves_each_ticker_with_korean_articles(make_settings: SettingsFactory) -> None:
    source = build_source("sample", make_settings())
    samsung = asyncio.run(source.fetch(lookup("005930.KS")))

    assert len(samsung) >= 5
    assert any(a.language == "ko" for a in samsung)
    assert any(any("\uac00" <= ch <= "\ud7a3" for ch in (a.title or "")) for a in samsung)
    prepared = prepare_articles(samsung, lookup("005930.KS"), source_type="sample")
    assert prepared.invalid == 0 and len(prepared.articles) >= 5

    per_ticker = {
        symbol: len(asyncio.run(source.fetch(lookup(symbol))))
        for symbol in ("AAPL", "MSFT", "NVDA", "TSLA", "005930.KS", "000660.KS")
    }
    assert sum(per_ticker.values()) >= 60
    assert all(count >= 5 for count in per_ticker.values())
    assert asyncio.run(source.fetch(lookup("ZZZQ"))) == []

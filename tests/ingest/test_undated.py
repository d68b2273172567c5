"""An article whose source gives no usable date is kept, dated by its collection, and flagged
(README "What `collect` does"): in the database, in job_runs, in the prompt and in the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select, text

from stockteacher.analysis.prompts import StoryInput, build_prompt
from stockteacher.ingest.collect import collect
from stockteacher.pipeline import run_pipeline
from stockteacher.settings import Settings
from stockteacher.store import migrate
from stockteacher.store.db import normalise_dsn, session_scope
from stockteacher.store.models import Article, JobRun, Report

ROWS = [
    {"title": "Apple opens a new campus in Austin", "url": "https://a.example/1", "published_at": "2026-11-30T09:00:00Z"},
    {"title": "Apple tests a foldable iPhone", "url": "https://a.example/2"},  # no date at all
    {"title": "Apple supplier Foxconn hires", "url": "https://a.example/3", "published_at": "sometime last week"},
]


def _news(tmp_path: Path) -> Path:
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    return path


def test_undated_articles_are_dated_by_collection_and_flagged(
    make_settings: Callable[..., Settings], pg_dsn: str, tmp_path: Path
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn)
    outcome = collect("AAPL", "file", settings=settings, path=_news(tmp_path))
    assert outcome.saved == 3 and outcome.invalid == 0  # an unreadable date loses no article
    with session_scope(pg_dsn) as db:
        rows = {a.url: a for a in db.scalars(select(Article))}
        run = db.scalars(select(JobRun).where(JobRun.stage == "collect")).one()
        dated = rows["https://a.example/1"]
        assert dated.published_at == datetime(2026, 11, 30, 9, tzinfo=UTC) and not dated.published_at_estimated
        for url in ("https://a.example/2", "https://a.example/3"):
            assert rows[url].published_at_estimated and rows[url].published_at == rows[url].collected_at
        assert run.details["undated"] == 2


def test_the_report_and_the_prompt_say_a_date_is_the_collection_time(
    make_settings: Callable[..., Settings], pg_dsn: str, tmp_path: Path
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, analysis_provider="offline", file_source_path=str(_news(tmp_path)))
    assert run_pipeline(settings, [("AAPL", "file")], stages=("collect", "analyze", "publish")).ok
    with session_scope(pg_dsn) as db:
        refs = db.scalars(select(Report)).one().source_refs
    flags = {ref["url"]: ref["published_at_estimated"] for ref in refs}
    assert flags["https://a.example/1"] is False and flags["https://a.example/2"] is True

    story = StoryInput(1, "Apple tests a foldable iPhone", None, "a.example", "https://a.example/2",
                       datetime(2026, 12, 1, tzinfo=UTC), 1, published_estimated=True)  # fmt: skip
    built = build_prompt("AAPL", "Apple", [story], locale="en_US", char_budget=10_000)
    prompt = "\n".join(m["content"] for m in built.messages)
    assert "published=2026-12-01 00:00 UTC (collected then; the source gave no date)" in prompt


def test_migration_dates_articles_stored_without_a_date(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(dsn, "0007_tickers")
    engine = create_engine(normalise_dsn(dsn))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO articles (fingerprint, ticker, canonical_url, url, title, source, source_type, collected_at) "
                "VALUES ('f1', 'AAPL', 'https://a.example/9', 'https://a.example/9', 'Old undated', 'x', 'rss', "
                "'2026-01-02 03:04:05.000000')"
            )
        )
    migrate.upgrade(dsn)
    with engine.begin() as conn:
        row = conn.execute(text("SELECT published_at, published_at_estimated FROM articles")).one()
    engine.dispose()
    assert row[1] and str(row[0]).startswith("2026-01-02 03:04:05")

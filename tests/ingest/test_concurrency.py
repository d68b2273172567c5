"""Eight concurrent collectors on one ticker against PostgreSQL store every article once,
with Redis answering and with Redis stopped (the database's unique constraint is the guard)."""

from __future__ import annotations

import json
import multiprocessing
import random
import shutil
import string
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun, Story
from tests.net import free_port

COLLECTORS = 8


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))


def write_feed_file(path: Path, *, stories: int = 60, seed: int = 7) -> tuple[int, int]:
    """A JSONL file of AAPL articles: `stories` distinct stories, each syndicated by 1-3 outlets,
    plus ~30 % exact duplicates under tracking-decorated URLs. Returns (distinct articles, stories)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for s in range(stories):
        title = "Apple " + " ".join(_word(rng) for _ in range(8))
        description = [_word(rng) for _ in range(16)]
        for outlet in range(rng.randint(1, 3)):
            desc = list(description)
            desc[rng.randrange(len(desc))] = _word(rng)  # syndicated copies differ by a word
            rows.append(
                {
                    "ticker": "AAPL",
                    "title": title,
                    "description": "Apple " + " ".join(desc),
                    "url": f"https://outlet{outlet}.example/{s}/story",
                    "source_name": f"Outlet {outlet}",
                    "published_at": f"2026-11-2{s % 6}T{outlet + 8:02d}:00:00Z",
                    "language": "en",
                }
            )
    distinct = len(rows)
    for row in rng.sample(rows, k=int(distinct * 0.3)):
        dup = dict(row, url=row["url"] + "?utm_source=newsletter&fbclid=abc#top")
        rows.append(dup)
    rng.shuffle(rows)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return distinct, stories


def _collect(settings: Settings, path: str, start_at: float) -> dict[str, int]:
    from stockteacher.ingest.collect import collect_core

    time.sleep(max(0.0, start_at - time.time()))  # start together
    return collect_core("AAPL", "file", settings=settings, path=path)


def _run_collectors(settings: Settings, path: Path) -> list[dict[str, int]]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=COLLECTORS, mp_context=ctx) as pool:
        # Warm the workers first so the collectors really overlap.
        list(pool.map(time.sleep, [0.01] * COLLECTORS))
        start_at = time.time() + 1.0
        futures = [pool.submit(_collect, settings, str(path), start_at) for _ in range(COLLECTORS)]
        return [f.result(timeout=120) for f in futures]


def _assert_stored_once(dsn: str, results: list[dict[str, int]], distinct: int, stories: int) -> list[JobRun]:
    assert sum(r["saved"] for r in results) == distinct
    assert all(r["fetched"] == results[0]["fetched"] for r in results)
    with session_scope(dsn) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == distinct
        dupes = session.execute(
            select(Article.canonical_url).group_by(Article.canonical_url).having(func.count() > 1)
        ).all()
        assert dupes == []
        assert session.scalar(select(func.count()).select_from(Story)) == stories
        assert session.scalar(select(func.sum(Story.article_count))) == distinct
        runs = list(session.scalars(select(JobRun).where(JobRun.stage == "collect")))
    assert len(runs) == COLLECTORS and {r.status for r in runs} == {"SUCCEEDED"}
    return runs


@pytest.mark.postgres
@pytest.mark.redis
def test_eight_collectors_with_redis_store_each_article_once(
    pg_dsn: str, redis_url: str, make_settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    distinct, stories = write_feed_file(tmp_path / "aapl.jsonl")
    settings = make_settings(postgres_dsn=pg_dsn, ingestion_redis_url=redis_url)
    results = _run_collectors(settings, tmp_path / "aapl.jsonl")
    runs = _assert_stored_once(pg_dsn, results, distinct, stories)
    assert {r.details["keystore"] for r in runs} == {"redis"}
    # Redis did the de-duplicating: the "unique" counts add up to the distinct articles.
    assert sum(r["unique"] for r in results) == distinct
    keys = redis.Redis.from_url(redis_url).keys("dedupe:*")
    assert len(keys) == distinct


@pytest.fixture
def stopped_redis_url(tmp_path: Path) -> str:
    """The URL of a Redis server that was running and has been stopped."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    client.shutdown(nosave=True)
    proc.wait(timeout=10)
    return url


@pytest.mark.postgres
def test_eight_collectors_with_redis_stopped_store_each_article_once(
    pg_dsn: str, stopped_redis_url: str, make_settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    distinct, stories = write_feed_file(tmp_path / "aapl.jsonl", seed=11)
    settings = make_settings(postgres_dsn=pg_dsn, ingestion_redis_url=stopped_redis_url)
    results = _run_collectors(settings, tmp_path / "aapl.jsonl")
    runs = _assert_stored_once(pg_dsn, results, distinct, stories)
    assert {r.details["keystore"] for r in runs} == {"memory"}
    # Every process claimed every article in its own memory; PostgreSQL refused the doubles.
    assert all(r["unique"] == distinct for r in results)

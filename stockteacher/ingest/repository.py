"""Saving articles: one bulk `INSERT ... ON CONFLICT DO NOTHING` per batch, then stories.

`save_articles` runs in the caller's transaction. On PostgreSQL it first takes a per-ticker
advisory lock, so that concurrent collectors of one ticker cluster one after another and two
near-duplicates never found two stories; on SQLite the first insert takes the database's write
lock, which does the same.

A backfill (`by_published_date=True`) clusters by the articles' own dates: an article joins
a story of the articles published within `window_hours` of it, not of the last `window_hours`
(a backfill's articles span years, and were all collected now).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import distinct, func, or_, select, text, update
from sqlalchemy.orm import Session

from stockteacher.ingest.cluster import assign_clusters, from_bytes, to_bytes
from stockteacher.ingest.normalize import NormalizedArticle
from stockteacher.store.models import Article, Story, utcnow

__all__ = ["SaveResult", "insert_articles", "insert_articles_rowwise", "save_articles"]

BATCH_ROWS = 1000


@dataclass
class SaveResult:
    saved_ids: list[int] = field(default_factory=list)
    saved_fingerprints: set[str] = field(default_factory=set)
    new_stories: int = 0
    touched_stories: set[int] = field(default_factory=set)

    @property
    def saved(self) -> int:
        return len(self.saved_ids)


def _dialect_insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - we support the two databases above
        raise NotImplementedError(f"unsupported database dialect {name!r}")
    return insert


def _row(article: NormalizedArticle, signature: np.ndarray | None, trace_id: str | None, now: Any) -> dict[str, Any]:
    return {
        "fingerprint": article.fingerprint,
        "ticker": article.ticker,
        "canonical_url": article.canonical_url,
        "url": article.url,
        "title": article.title,
        "description": article.description,
        "body": article.body,
        "author": article.author[:300] if article.author else None,
        "source": article.source,
        "source_type": article.source_type,
        "language": article.language,
        # No usable date from the source: the time it was collected stands in, flagged.
        "published_at": article.published_at or now,
        "published_at_estimated": article.published_at is None,
        "collected_at": now,
        "minhash": to_bytes(signature) if signature is not None else None,
        "trace_id": trace_id,
    }


_PG_COLUMNS = (
    ("fingerprint", "varchar"),
    ("ticker", "varchar"),
    ("canonical_url", "text"),
    ("url", "text"),
    ("title", "text"),
    ("description", "text"),
    ("body", "text"),
    ("author", "varchar"),
    ("source", "varchar"),
    ("source_type", "varchar"),
    ("language", "varchar"),
    ("published_at", "timestamptz"),
    ("published_at_estimated", "boolean"),
    ("collected_at", "timestamptz"),
    ("minhash", "bytea"),
    ("trace_id", "varchar"),
)
# One short statement whatever the batch size: the rows travel as one array per column, in
# psycopg's binary format (`%(…)b`): its text format escapes every element with a Python regex,
# ~7 µs per value, more than the rest of the insert (the binary one ~0.5 µs).
_PG_INSERT = (
    f"INSERT INTO articles ({', '.join(c for c, _ in _PG_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(%({c})b AS {t}[])' for c, t in _PG_COLUMNS)}) "
    "ON CONFLICT (ticker, fingerprint) DO NOTHING RETURNING id, fingerprint"
)


def _pg_execute(session: Session, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One statement with `%(…)b` placeholders on the session's own connection (so in its
    transaction), through psycopg's cursor: SQLAlchemy's placeholders cannot ask for psycopg's
    binary format, and its text format escapes every array element with a Python regex."""
    driver = session.connection().connection.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has its driver's
        raise RuntimeError("the session's connection has no psycopg connection")
    with driver.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description is not None else []


def insert_articles(session: Session, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert rows, skipping (ticker, fingerprint) pairs already stored, in one statement per
    batch of `BATCH_ROWS`, never a statement per row. Returns (id, fingerprint) of the rows
    actually inserted.

    PostgreSQL gets `INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT DO
    NOTHING`; SQLite a multi-row `INSERT ... ON CONFLICT DO NOTHING` through SQLAlchemy's
    "insertmanyvalues".
    """
    if not rows:
        return []
    inserted: list[tuple[int, str]] = []
    if session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(rows), BATCH_ROWS):
            chunk = rows[start : start + BATCH_ROWS]
            params = {c: [r[c] for r in chunk] for c, _ in _PG_COLUMNS}
            inserted.extend((article_id, fp) for article_id, fp in _pg_execute(session, _PG_INSERT, params))
        return inserted
    insert = _dialect_insert(session)
    table = Article.__table__
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["ticker", "fingerprint"])
        .returning(table.c.id, table.c.fingerprint)
    )
    result = session.connection().execute(
        stmt, list(rows), execution_options={"insertmanyvalues_page_size": BATCH_ROWS}
    )
    return [(row.id, row.fingerprint) for row in result]


def insert_articles_rowwise(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """The naive way, for comparison in benchmarks: look up, then insert, one row at a time."""
    saved = 0
    for row in rows:
        exists = session.execute(
            select(Article.id).where(Article.ticker == row["ticker"], Article.fingerprint == row["fingerprint"])
        ).first()
        if exists is None:
            session.add(Article(**row))
            session.flush()
            saved += 1
    return saved


def _lock_ticker(session: Session, ticker: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"stockteacher:articles:{ticker}"}
        )


def save_articles(
    session: Session,
    ticker: str,
    articles: Sequence[NormalizedArticle],
    signatures: Sequence[np.ndarray],
    *,
    trace_id: str | None,
    threshold: float,
    window_hours: int,
    by_published_date: bool = False,
) -> SaveResult:
    """Insert new articles of one ticker and join each to a story (see the module docstring)."""
    result = SaveResult()
    if not articles:
        return result
    _lock_ticker(session, ticker)
    now = utcnow()
    rows = [_row(a, s, trace_id, now) for a, s in zip(articles, signatures, strict=True)]
    inserted = insert_articles(session, rows)
    if not inserted:
        return result
    result.saved_ids = [i for i, _ in inserted]
    result.saved_fingerprints = {fp for _, fp in inserted}
    by_fp = {a.fingerprint: (a, s) for a, s in zip(articles, signatures, strict=True)}
    new = sorted(
        ((article_id, *by_fp[fp]) for article_id, fp in inserted),
        key=lambda t: (t[1].published_at is None, t[1].published_at or now, t[0]),
    )
    window = timedelta(hours=window_hours)
    if by_published_date:
        dates = [a.published_at or now for _, a, _ in new]
        recent = session.execute(
            select(Article.minhash, Article.story_id, Article.published_at)
            .where(
                Article.ticker == ticker,
                Article.story_id.is_not(None),
                Article.minhash.is_not(None),
                Article.published_at.between(min(dates) - window, max(dates) + window),
            )
            .order_by(Article.published_at, Article.id)
        ).all()
        assignments = assign_clusters(
            [sig for _, _, sig in new],
            [(from_bytes(m), sid) for m, sid, _ in recent],
            threshold=threshold,
            new_times=[d.timestamp() for d in dates],
            existing_times=[_aware(p).timestamp() for _, _, p in recent],
            window_seconds=window.total_seconds(),
        )
    else:
        cutoff = now - window
        recent = session.execute(
            select(Article.minhash, Article.story_id).where(
                Article.ticker == ticker,
                Article.story_id.is_not(None),
                Article.minhash.is_not(None),
                or_(Article.published_at >= cutoff, Article.collected_at >= cutoff),
            )
        ).all()
        existing = [(from_bytes(m), sid) for m, sid in recent]
        assignments = assign_clusters([sig for _, _, sig in new], existing, threshold=threshold)

    # Create one story per placeholder, titled after its earliest article.
    founders: dict[int, tuple[int, NormalizedArticle]] = {}
    for (article_id, article, _), story in zip(new, assignments, strict=True):
        if story < 0 and story not in founders:
            founders[story] = (article_id, article)
    placeholder_ids: dict[int, int] = {}
    if founders:
        placeholder_ids = _insert_stories(session, ticker, founders, now)
        result.new_stories = len(placeholder_ids)

    members: dict[int, list[int]] = defaultdict(list)
    for (article_id, _, _), story in zip(new, assignments, strict=True):
        members[placeholder_ids.get(story, story)].append(article_id)
    _set_stories(session, members)
    result.touched_stories = set(members)
    _refresh_story_counts(session, result.touched_stories, now)
    return result


# A backfill founds thousands of stories per ticker: one short statement with one array per
# column, as for the articles, instead of a multi-row VALUES that SQLAlchemy compiles anew for
# every call (~50 ms per ticker, more than the insert itself). Each row's representative
# article is unique, so the ids are matched by it, not by the order of RETURNING.
_PG_INSERT_STORIES = (
    "INSERT INTO stories (ticker, title, representative_article_id, article_count, corroboration_count, "
    "created_at, updated_at) "
    "SELECT CAST(%(ticker)s AS varchar), v.title, v.aid, 0, 0, CAST(%(now)s AS timestamptz), "
    "CAST(%(now)s AS timestamptz) "
    "FROM unnest(CAST(%(titles)b AS text[]), CAST(%(aids)b AS bigint[])) AS v(title, aid) "
    "RETURNING id, representative_article_id"
)


def _insert_stories(
    session: Session, ticker: str, founders: dict[int, tuple[int, NormalizedArticle]], now: Any
) -> dict[int, int]:
    """One story per placeholder, titled after its founding article: placeholder → story id."""
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "ticker": ticker,
            "now": now,
            "titles": [a.title for _, a in founders.values()],
            "aids": [aid for aid, _ in founders.values()],
        }
        by_article = {aid: sid for sid, aid in _pg_execute(session, _PG_INSERT_STORIES, params)}
        return {placeholder: by_article[aid] for placeholder, (aid, _) in founders.items()}
    insert = _dialect_insert(session)
    values = [
        {
            "ticker": ticker,
            "title": a.title,
            "representative_article_id": aid,
            "article_count": 0,
            "corroboration_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for aid, a in founders.values()
    ]
    created = session.execute(insert(Story).values(values).returning(Story.id)).scalars().all()
    return dict(zip(founders.keys(), created, strict=True))


# Every new article's story in one statement, however many stories (a backfill's are mostly new).
_PG_SET_STORIES = (
    "UPDATE articles SET story_id = v.story_id "
    "FROM unnest(CAST(%(ids)b AS bigint[]), CAST(%(story_ids)b AS bigint[])) AS v(id, story_id) "
    "WHERE articles.id = v.id"
)


def _set_stories(session: Session, members: dict[int, list[int]]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        pairs = [(article_id, story_id) for story_id, ids in members.items() for article_id in ids]
        _pg_execute(session, _PG_SET_STORIES, {"ids": [a for a, _ in pairs], "story_ids": [s for _, s in pairs]})
        return
    for story_id, ids in members.items():
        session.execute(update(Article).where(Article.id.in_(ids)).values(story_id=story_id))


def _aware(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Every touched story's counts from one grouped scan of its articles, instead of four
# correlated subqueries per story and one bound parameter per story id.
_PG_REFRESH_COUNTS = (
    "UPDATE stories SET article_count = c.n, corroboration_count = c.sources, "
    "first_published_at = c.first, last_published_at = c.last, updated_at = CAST(%(now)s AS timestamptz) "
    "FROM (SELECT story_id, count(*) AS n, count(DISTINCT source) AS sources, "
    "min(published_at) AS first, max(published_at) AS last "
    "FROM articles WHERE story_id = ANY(CAST(%(ids)b AS bigint[])) GROUP BY story_id) AS c "
    "WHERE stories.id = c.story_id"
)


def _refresh_story_counts(session: Session, story_ids: set[int], now: Any) -> None:
    """Each story's article and outlet counts and date span, from its articles. A touched
    story always has an article (one was just given to it), so the grouped form on
    PostgreSQL updates the same rows as the per-story subqueries elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        _pg_execute(session, _PG_REFRESH_COUNTS, {"ids": sorted(story_ids), "now": now})
        return
    a = Article.__table__.alias("a")
    session.execute(
        update(Story)
        .where(Story.id.in_(story_ids))
        .values(
            article_count=select(func.count()).select_from(a).where(a.c.story_id == Story.id).scalar_subquery(),
            corroboration_count=select(func.count(distinct(a.c.source)))
            .where(a.c.story_id == Story.id)
            .scalar_subquery(),
            first_published_at=select(func.min(a.c.published_at)).where(a.c.story_id == Story.id).scalar_subquery(),
            last_published_at=select(func.max(a.c.published_at)).where(a.c.story_id == Story.id).scalar_subquery(),
            updated_at=now,
        )
    )

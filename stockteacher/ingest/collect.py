"""`collect_core(ticker, source)`: fetch, normalise, keep what is relevant, de-duplicate, save.

Returns `{"fetched", "unique", "saved"}`:

- `fetched` — articles the source delivered;
- `unique`  — those left after normalisation, the relevance check, in-batch de-duplication and
  the keystore (articles not seen before);
- `saved`   — rows actually inserted (the database's unique constraint is the last guard).

Every call writes one `job_runs` row (`stage=collect`) and `collect.*` log events carrying the
`trace_id`, `ticker`, `source` and `stage` context. On failure the row records the error code
and message, keystore claims are released, nothing half-written stays, and the typed error is
raised to the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from stockteacher.ingest.cluster import minhash_signatures
from stockteacher.ingest.dedupe import FallbackKeystore, Keystore, dedupe_key
from stockteacher.ingest.normalize import InvalidArticle, NormalizedArticle, normalize_article
from stockteacher.ingest.repository import save_articles
from stockteacher.logs import get_logger, new_trace_id, pipeline_context
from stockteacher.settings import Settings, load_settings
from stockteacher.sources import build_source
from stockteacher.sources.base import RawArticle, SourceError
from stockteacher.store.db import StoreError, instance_id, session_scope
from stockteacher.store.jobs import FAILED, SUCCEEDED, job_run
from stockteacher.tickers import service as tickers
from stockteacher.tickers.registry import TickerInfo, lookup

__all__ = ["CollectOutcome", "collect_core", "prepare_articles"]

log = get_logger(__name__)
_keystores: dict[tuple[str, int, int], FallbackKeystore] = {}


def default_keystore(settings: Settings) -> Keystore:
    """One keystore per (Redis URL, TTL) per process, so the memory fallback is shared."""
    key = (settings.ingestion_redis_url, settings.dedup_redis_ttl_seconds, settings.dedup_claim_lease_seconds)
    store = _keystores.get(key)
    if store is None:
        store = FallbackKeystore(
            settings.ingestion_redis_url,
            settings.dedup_redis_ttl_seconds,
            lease_seconds=settings.dedup_claim_lease_seconds,
            socket_timeout=settings.redis_socket_timeout_seconds,
        )
        _keystores[key] = store
    return store


@dataclass
class Prepared:
    articles: list[NormalizedArticle]
    invalid: int
    irrelevant: int
    in_batch_duplicates: int
    invalid_reasons: dict[str, int] = field(default_factory=dict)


def prepare_articles(raw: list[RawArticle], ticker: TickerInfo, *, source_type: str) -> Prepared:
    """Normalise, drop the unreadable and the irrelevant, and de-duplicate within the batch."""
    kept: dict[str, NormalizedArticle] = {}
    invalid: Counter[str] = Counter()
    irrelevant = duplicates = 0
    for item in raw:
        try:
            article = normalize_article(item, ticker=ticker.symbol, source_type=source_type)
        except InvalidArticle as exc:
            invalid[exc.reason] += 1
            log.info("collect.invalid_article", reason=exc.reason, detail=str(exc)[:300], url=str(item.url)[:200])
            continue
        if not ticker.mentioned_in(article.title, article.description, article.body):
            irrelevant += 1
            continue
        if article.fingerprint in kept:
            duplicates += 1
            continue
        kept[article.fingerprint] = article
    return Prepared(list(kept.values()), sum(invalid.values()), irrelevant, duplicates, dict(invalid))


@dataclass
class CollectOutcome:
    fetched: int
    unique: int
    saved: int
    trace_id: str
    story_ids: list[int]
    article_ids: list[int]
    new_stories: int = 0
    invalid: int = 0

    def counts(self) -> dict[str, int]:
        return {"fetched": self.fetched, "unique": self.unique, "saved": self.saved}


def collect_core(
    ticker: str,
    source: str,
    *,
    settings: Settings | None = None,
    trace_id: str | None = None,
    path: str | Path | None = None,
    keystore: Keystore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, int]:
    """Collect one ticker from one source; see the module docstring."""
    return collect(
        ticker, source, settings=settings, trace_id=trace_id, path=path, keystore=keystore, transport=transport
    ).counts()


def collect(
    ticker: str,
    source: str,
    *,
    settings: Settings | None = None,
    trace_id: str | None = None,
    path: str | Path | None = None,
    keystore: Keystore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CollectOutcome:
    """`collect_core` with the details the pipeline needs (trace id, new story ids)."""
    settings = settings or load_settings()
    tickers.refresh_from(settings.dsn)  # the operators' tickers and aliases, for the relevance filter
    info = lookup(ticker)
    trace_id = trace_id or new_trace_id()
    owner = f"{trace_id}:{source}"
    store = keystore or default_keystore(settings)
    claimed: list[str] = []

    def failed(exc: BaseException) -> dict[str, Any]:
        # Nothing half-written stays: the claims of articles not saved go back to the keystore.
        if claimed:
            store.release(claimed, owner=owner)
        if isinstance(exc, SourceError | StoreError):
            log.error("collect.failed", status=FAILED, error_code=exc.code, error=str(exc), **run.fields)
            return {"error_code": exc.code, "error_message": str(exc)}
        log.exception("collect.unexpected_error", status=FAILED)
        return {"error_code": "unexpected_error", "error_message": f"{type(exc).__name__}: {exc}"}

    with (
        pipeline_context(trace_id=trace_id, ticker=info.symbol, source=source, stage="collect"),
        job_run(
            settings.dsn,
            stage="collect",
            trace_id=trace_id,
            ticker=info.symbol,
            source=source,
            supersede=True,
            on_error=failed,
        ) as run,
    ):
        started = time.perf_counter()
        log.info("collect.start")
        run.record(fetched=0, unique=0, saved=0)
        adapter = build_source(source, settings, path=path, transport=transport)
        raw = asyncio.run(adapter.fetch(info))
        run.record(fetched=len(raw))
        prepared = prepare_articles(raw, info, source_type=source)
        scope = instance_id(settings.dsn)
        keys = [dedupe_key(scope, info.symbol, a.fingerprint) for a in prepared.articles]
        # The owner is the same for every Ray retry of this collector: a retry after a
        # SIGKILL between these claims and the commit claims its articles again.
        fresh = store.claim(keys, owner=owner)
        new_articles = [a for a, ok in zip(prepared.articles, fresh, strict=True) if ok]
        claimed = [k for k, ok in zip(keys, fresh, strict=True) if ok]
        run.record(unique=len(new_articles))
        signatures = list(minhash_signatures([a.as_text() for a in new_articles]))  # one batch: the same values
        try:
            with session_scope(settings.dsn) as session:
                result = save_articles(
                    session,
                    info.symbol,
                    new_articles,
                    signatures,
                    trace_id=trace_id,
                    threshold=settings.story_similarity_threshold,
                    window_hours=settings.story_window_hours,
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"saving articles failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
        # Committed: every claimed article is in the database now (saved, or there already).
        confirmed, claimed = claimed, []
        store.confirm(confirmed)
        fetched, unique = len(raw), len(new_articles)
        details = {
            "invalid": prepared.invalid,
            "invalid_reasons": prepared.invalid_reasons,
            "undated": sum(1 for a in new_articles if a.published_at is None),  # dated by collection
            "irrelevant": prepared.irrelevant,
            "in_batch_duplicates": prepared.in_batch_duplicates,
            "keystore": store.backend,
            "new_stories": result.new_stories,
            "stories": sorted(result.touched_stories),
        }
        run.record(saved=result.saved, details=details)
        log.info(
            "collect.saved",
            status=SUCCEEDED,
            fetched=fetched,
            unique=unique,
            saved=result.saved,
            invalid=prepared.invalid,
            irrelevant=prepared.irrelevant,
            new_stories=result.new_stories,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return CollectOutcome(
            fetched,
            unique,
            result.saved,
            trace_id,
            sorted(result.touched_stories),
            result.saved_ids,
            new_stories=result.new_stories,
            invalid=prepared.invalid,
        )

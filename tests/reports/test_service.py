"""Report visibility and the service's refusals, without HTTP: readers see published reports
only, admins every status, in every way of reaching one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from stockteacher.accounts.models import Principal
from stockteacher.api.errors import status_for
from stockteacher.core.errors import Forbidden, InvalidRequest, NotFound
from stockteacher.reports import service
from stockteacher.reports.models import Report, ReportFilters
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis

READER = Principal("ann", "user")
ADMIN = Principal("root", "admin")


@pytest.fixture
def db(pg_dsn: str) -> Iterator[Session]:
    with session_scope(pg_dsn) as session:
        for n, status in enumerate(("published", "draft", "hidden")):
            analysis = Analysis(
                ticker="AAPL", content_hash=f"{n:064d}", prompt_version="test", provider="offline",
                model="offline", locale="en_US", result={}, story_ids=[],
            )  # fmt: skip
            session.add(analysis)
            session.flush()
            session.add(
                Report(
                    analysis_id=analysis.id,
                    insight_id=f"r{n}",
                    ticker="AAPL",
                    published_at=datetime(2025, 3, 3, 9 + n, tzinfo=UTC),
                    status=status,
                    sentiment_score=0.5,
                    anomaly_score=0.1,
                    headline=f"Apple story {n}",
                    summary_text="Apple shares rose after earnings.",
                    keywords=["apple", "earnings"],
                    tags=["positive"],
                    source_refs=[],
                    attachments=[],
                    glossary=[],
                    anomalies=[],
                    model="offline",
                    locale="en_US",
                    story_count=1,
                    quality_notes=[],
                    cost_usd=0.0,
                )
            )
        session.flush()
        yield session


def _ids(items: list[dict]) -> list[str]:
    return sorted(item["insight_id"] for item in items)


def test_readers_see_published_reports_only_everywhere(db: Session) -> None:
    cache = service.ReportCache(0)
    everything = ReportFilters.model_validate({"status": "all"})
    assert _ids(service.list_reports(ReportFilters(), READER, db_session=db, cache=cache, max_page_size=100)) == ["r0"]
    assert _ids(service.list_reports(everything, ADMIN, db_session=db, cache=cache, max_page_size=100)) == [
        "r0", "r1", "r2"]  # fmt: skip
    assert _ids(service.search_reports("apple", 10, READER, db_session=db)) == ["r0"]
    assert service.related_reports("r0", READER, 10, db_session=db, cache=cache) == []
    assert service.sentiment_series("AAPL", 30, READER, db_session=db)["points"][0]["reports"] == 1
    for hidden in ("r1", "r2"):
        with pytest.raises(NotFound):
            service.get_report(hidden, READER, db_session=db, cache=cache)
        with pytest.raises(NotFound):
            service.set_favorite(hidden, READER, True, db_session=db, cache=cache)
        assert service.get_report(hidden, ADMIN, db_session=db, cache=cache)["insight_id"] == hidden


def test_refusals_carry_their_http_status(db: Session) -> None:
    cache = service.ReportCache(0)
    with pytest.raises(Forbidden) as forbidden:
        service.list_reports(
            ReportFilters.model_validate({"status": "draft"}), READER, db_session=db, cache=cache, max_page_size=100
        )
    with pytest.raises(Forbidden):
        service.set_status("r0", "hidden", READER, db_session=db, cache=cache)
    with pytest.raises(InvalidRequest, match="API_MAX_PAGE_SIZE") as invalid:
        service.list_reports(
            ReportFilters.model_validate({"limit": 500}), READER, db_session=db, cache=cache, max_page_size=100
        )
    with pytest.raises(NotFound) as missing:
        service.get_report("nope", ADMIN, db_session=db, cache=cache)
    assert [status_for(e.value) for e in (forbidden, invalid, missing)] == [403, 422, 404]


def test_a_status_change_clears_the_cache_at_once(db: Session) -> None:
    cache = service.ReportCache(60)
    assert service.get_report("r0", READER, db_session=db, cache=cache)["status"] == "published"
    service.set_status("r0", "hidden", ADMIN, db_session=db, cache=cache)
    with pytest.raises(NotFound):
        service.get_report("r0", READER, db_session=db, cache=cache)

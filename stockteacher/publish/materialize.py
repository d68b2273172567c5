"""The materializer: each new analysis becomes one report, idempotently, plus JSON and Markdown
copies under `<LOCAL_STORAGE_ROOT>/reports/<ticker>/<insight_id>.{json,md}`.

The report id is derived from the analysis's content hash, and `reports.analysis_id` is
unique, so running the materializer twice (or on two workers at once) creates nothing new.

Quality rules — a report is published unless one of these holds, in which case it is kept as
a `draft` with the reasons in `quality_notes`:

- the summary is empty or shorter than 20 characters;
- the headline is empty;
- no source could be cited (no cited story has an article with a URL);
- a citation points at a story that no longer exists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockteacher.analysis.schema import ReportDraft
from stockteacher.analysis.service import insight_id_for
from stockteacher.core.vocabulary import is_urgent, sentiment_label
from stockteacher.logs import get_logger, new_trace_id, pipeline_context
from stockteacher.settings import Settings, load_settings
from stockteacher.store.db import session_scope
from stockteacher.store.jobs import FAILED, SUCCEEDED, job_run
from stockteacher.store.models import Analysis, Article, Report, Story, utcnow

__all__ = ["PublishOutcome", "materialize_reports", "quality_notes", "report_to_dict", "write_report_files"]

log = get_logger(__name__)
MIN_SUMMARY_CHARS = 20
STATUSES = ("draft", "published", "hidden")


@dataclass
class PublishOutcome:
    published: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    skipped: int = 0

    def summary(self) -> dict[str, Any]:
        return {"published": len(self.published), "skipped": self.skipped, "drafts": len(self.drafts)}


def quality_notes(draft: ReportDraft, source_refs: list[dict[str, Any]], missing_stories: set[int]) -> list[str]:
    notes = []
    if len(draft.summary_text.strip()) < MIN_SUMMARY_CHARS:
        notes.append("summary is empty or too short")
    if not draft.headline.strip():
        notes.append("headline is empty")
    if not source_refs:
        notes.append("no sources to cite")
    if missing_stories:
        notes.append(f"cites stories that no longer exist: {sorted(missing_stories)}")
    return notes


def _tags(draft: ReportDraft, model: str) -> list[str]:
    tags = [a.label for a in draft.anomalies]
    tags.append(sentiment_label(draft.sentiment_score))
    if is_urgent(draft.anomaly_score, draft.sentiment_score):
        tags.append("urgent")
    if model == "offline":
        tags.append("offline-analysis")
    return list(dict.fromkeys(tags))


def _source_refs(session: Session, story_ids: list[int]) -> tuple[list[dict[str, Any]], set[int]]:
    """One reference per cited story (its representative article), with the other outlets."""
    stories = {s.id: s for s in session.scalars(select(Story).where(Story.id.in_(story_ids)))}
    articles = session.scalars(
        select(Article).where(Article.story_id.in_(story_ids)).order_by(Article.published_at, Article.id)
    ).all()
    by_story: dict[int, list[Article]] = {}
    for article in articles:
        by_story.setdefault(int(article.story_id or 0), []).append(article)
    refs = []
    for sid in story_ids:
        story, members = stories.get(sid), by_story.get(sid, [])
        if story is None or not members:
            continue
        lead = next((a for a in members if a.id == story.representative_article_id), members[0])
        refs.append(
            {
                "story_id": sid,
                "article_id": lead.id,
                "url": lead.url,
                "title": lead.title,
                "source": lead.source,
                "published_at": lead.published_at.isoformat() if lead.published_at else None,
                "published_at_estimated": bool(lead.published_at_estimated),  # the collection time
                "corroboration_count": story.corroboration_count,
                "also_reported_by": [{"source": a.source, "url": a.url} for a in members if a.id != lead.id],
            }
        )
    return refs, set(story_ids) - set(stories)


def _build_report(session: Session, analysis: Analysis, trace_id: str) -> Report:
    draft = ReportDraft.model_validate(analysis.result)
    cited = [sid for sid in analysis.story_ids if sid in draft.cited_story_ids] or list(analysis.story_ids)
    refs, missing = _source_refs(session, cited)
    notes = quality_notes(draft, refs, missing)
    now = utcnow()
    return Report(
        insight_id=insight_id_for(analysis.content_hash),
        analysis_id=analysis.id,
        ticker=analysis.ticker,
        status="draft" if notes else "published",
        published_at=now,
        headline=draft.headline,
        summary_text=draft.summary_text,
        sentiment_score=draft.sentiment_score,
        anomaly_score=draft.anomaly_score,
        tags=_tags(draft, analysis.model),
        keywords=draft.keywords,
        glossary=[g.model_dump() for g in draft.glossary],
        anomalies=[a.model_dump() for a in draft.anomalies],
        source_refs=refs,
        attachments=[],
        quality_notes=notes,
        cost_usd=analysis.cost_usd,
        model=analysis.model,
        locale=analysis.locale,
        story_count=len(analysis.story_ids),
        trace_id=analysis.trace_id or trace_id,
        created_at=now,
        updated_at=now,
    )


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as `ReportDetail` (API.md) plus our additions."""
    return {
        "insight_id": report.insight_id,
        "ticker": report.ticker,
        "published_at": report.published_at.isoformat(),
        "status": report.status,
        "sentiment_score": report.sentiment_score,
        "headline": report.headline,
        "tags": list(report.tags),
        "summary_text": report.summary_text,
        "anomaly_score": report.anomaly_score,
        "keywords": list(report.keywords),
        "source_refs": list(report.source_refs),
        "attachments": list(report.attachments),
        "glossary": list(report.glossary),
        "anomalies": list(report.anomalies),
        "cost_usd": report.cost_usd,
        "model": report.model,
        "locale": report.locale,
        "story_count": report.story_count,
        "quality_notes": list(report.quality_notes),
        "trace_id": report.trace_id,
    }


def _markdown(data: dict[str, Any]) -> str:
    ko = data["locale"] == "ko_KR"
    label = {
        "summary": "요약" if ko else "Summary",
        "anomalies": "눈여겨볼 사건" if ko else "Notable events",
        "glossary": "용어 풀이" if ko else "Glossary",
        "sources": "출처" if ko else "Sources",
        "meta": "분석 정보" if ko else "About this report",
    }
    lines = [f"# {data['headline']}", "", f"*{data['ticker']} · {data['published_at']} · {data['status']}*", ""]
    lines += [f"## {label['summary']}", "", data["summary_text"], ""]
    if data["anomalies"]:
        lines += [f"## {label['anomalies']}", ""]
        lines += [f"- **{a['label']}** ({a['score']:.2f}): {a['description']}" for a in data["anomalies"]]
        lines.append("")
    if data["glossary"]:
        lines += [f"## {label['glossary']}", ""]
        lines += [f"- **{g['term']}**: {g['explanation']}" for g in data["glossary"]]
        lines.append("")
    lines += [f"## {label['sources']}", ""]
    for ref in data["source_refs"]:
        also = f" (+{len(ref['also_reported_by'])})" if ref.get("also_reported_by") else ""
        lines.append(f"- [{ref['title']}]({ref['url']}) — {ref['source']}{also}")
    lines += [
        "",
        f"## {label['meta']}",
        "",
        f"- sentiment: {data['sentiment_score']:+.2f} · anomaly: {data['anomaly_score']:.2f}",
        f"- model: {data['model']} · cost: ${data['cost_usd']:.5f} · stories: {data['story_count']}",
        f"- keywords: {', '.join(data['keywords'])}",
        "",
    ]
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report_files(storage_root: str | Path, report: Report) -> tuple[Path, Path]:
    data = report_to_dict(report)
    folder = Path(storage_root) / "reports" / report.ticker
    json_path, md_path = folder / f"{report.insight_id}.json", folder / f"{report.insight_id}.md"
    _atomic_write(json_path, json.dumps(data, ensure_ascii=False, indent=2))
    _atomic_write(md_path, _markdown(data))
    return json_path, md_path


def _pending(session: Session, ticker: str | None, analysis_ids: Iterable[int] | None) -> list[Analysis]:
    query = select(Analysis).where(Analysis.id.not_in(select(Report.analysis_id))).order_by(Analysis.id)
    if ticker:
        query = query.where(Analysis.ticker == ticker)
    if analysis_ids is not None:
        query = query.where(Analysis.id.in_(list(analysis_ids)))
    return list(session.scalars(query))


def materialize_reports(
    *,
    settings: Settings | None = None,
    ticker: str | None = None,
    analysis_ids: Iterable[int] | None = None,
    trace_id: str | None = None,
) -> PublishOutcome:
    """Publish every analysis that has no report yet (optionally one ticker's, or given ids)."""
    settings = settings or load_settings()
    trace_id = trace_id or new_trace_id()
    outcome = PublishOutcome()

    def failed(exc: BaseException) -> dict[str, Any]:
        log.exception("publish.failed", status=FAILED)
        return {
            "error_code": getattr(exc, "code", "unexpected_error"),
            "error_message": f"{type(exc).__name__}: {exc}",
            "saved": len(outcome.published),
        }

    with (
        pipeline_context(trace_id=trace_id, ticker=ticker, stage="publish"),
        job_run(
            settings.dsn, stage="publish", trace_id=trace_id, ticker=ticker, source="materializer", on_error=failed
        ) as run,
    ):
        with session_scope(settings.dsn) as session:
            pending = _pending(session, ticker, analysis_ids)
        for analysis in pending:
            report = _publish_one(settings, analysis, trace_id)
            if report is None:
                outcome.skipped += 1
            elif report.status == "published":
                outcome.published.append(report.insight_id)
            else:
                outcome.drafts.append(report.insight_id)
        outcome.skipped += _repair_missing_files(settings, ticker)
        run.record(
            saved=len(outcome.published) + len(outcome.drafts),
            details={"published": outcome.published, "drafts": outcome.drafts, "skipped": outcome.skipped},
        )
        log.info("publish.done", status=SUCCEEDED, **outcome.summary())
    return outcome


def _publish_one(settings: Settings, analysis: Analysis, trace_id: str) -> Report | None:
    try:
        with session_scope(settings.dsn) as session:
            report = _build_report(session, analysis, trace_id)
            session.add(report)
    except IntegrityError:
        log.info("publish.exists", analysis_id=analysis.id)  # another worker published it first
        return None
    write_report_files(settings.local_storage_root, report)
    log.info(
        "publish.saved",
        insight_id=report.insight_id,
        ticker=report.ticker,
        status=report.status,
        trace_id=report.trace_id,
        notes=report.quality_notes,
    )
    return report


def _repair_missing_files(settings: Settings, ticker: str | None) -> int:
    """Rewrite the files of reports whose copies are missing (e.g. a crash after the commit)."""
    root = Path(settings.local_storage_root) / "reports"
    repaired = 0
    with session_scope(settings.dsn) as session:
        # Names first, whole rows only for the missing: every publish checks all the ticker's
        # reports, and loading each one's body made that grow with the ticker's history.
        query = select(Report.ticker, Report.insight_id)
        if ticker:
            query = query.where(Report.ticker == ticker)
        missing = [iid for tkr, iid in session.execute(query) if not (root / tkr / f"{iid}.json").exists()]
        for start in range(0, len(missing), 500):
            for report in session.scalars(select(Report).where(Report.insight_id.in_(missing[start : start + 500]))):
                write_report_files(settings.local_storage_root, report)
                repaired += 1
    return repaired

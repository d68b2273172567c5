"""The materializer: idempotent reports, quality rules, JSON and Markdown files, CLI lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stockteacher.analysis.schema import ReportDraft
from stockteacher.analysis.service import analyze_core
from stockteacher.cli import main
from stockteacher.publish.materialize import materialize_reports, quality_notes
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Analysis, JobRun, Report


def test_publish_is_idempotent_and_writes_files(collected: Callable[..., Settings]) -> None:
    settings = collected("TSLA")
    result = analyze_core("TSLA", settings=settings)
    first = materialize_reports(settings=settings)
    second = materialize_reports(settings=settings)
    assert first.published == [result["insight_id"]] and second.summary() == {"published": 0, "skipped": 0, "drafts": 0}
    with session_scope(settings.dsn) as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1
        report = session.get(Report, result["insight_id"])
        runs = session.scalars(select(JobRun).where(JobRun.stage == "publish")).all()
    assert len(runs) == 2 and {r.status for r in runs} == {"SUCCEEDED"}
    folder = Path(settings.local_storage_root) / "reports" / "TSLA"
    data = json.loads((folder / f"{report.insight_id}.json").read_text())
    assert data["insight_id"] == report.insight_id and data["status"] == "published"
    for key in (
        "summary_text",
        "anomaly_score",
        "keywords",
        "source_refs",
        "attachments",
        "glossary",
        "anomalies",
        "cost_usd",
        "model",
        "locale",
        "story_count",
        "sentiment_score",
        "headline",
        "tags",
        "published_at",
    ):
        assert key in data
    assert all(ref["url"].startswith("https://") and ref["title"] for ref in data["source_refs"])
    markdown = (folder / f"{report.insight_id}.md").read_text()
    assert markdown.startswith(f"# {report.headline}") and data["source_refs"][0]["url"] in markdown
    assert "offline-analysis" in report.tags


def test_missing_files_are_rewritten(collected: Callable[..., Settings]) -> None:
    settings = collected("NVDA")
    insight = analyze_core("NVDA", settings=settings)["insight_id"]
    materialize_reports(settings=settings)
    path = Path(settings.local_storage_root) / "reports" / "NVDA" / f"{insight}.json"
    path.unlink()
    materialize_reports(settings=settings)
    assert path.is_file()


def test_report_without_sources_stays_draft(collected: Callable[..., Settings]) -> None:
    settings = collected("MSFT")
    analyze_core("MSFT", settings=settings)
    with session_scope(settings.dsn) as session:  # the stories vanished (e.g. purged) before publishing
        analysis = session.scalars(select(Analysis)).one()
        analysis.story_ids = [987654]
        result = dict(analysis.result)
        result["citations"] = [{"claim": "x", "story_ids": [987654]}]
        analysis.result = result
    outcome = materialize_reports(settings=settings)
    assert outcome.drafts and not outcome.published
    with session_scope(settings.dsn) as session:
        report = session.scalars(select(Report)).one()
    assert report.status == "draft" and "no sources to cite" in report.quality_notes


def test_quality_rules() -> None:
    draft = ReportDraft(
        headline="h",
        summary_text="short",
        keywords=["a", "b", "c"],
        sentiment_score=0,
        citations=[{"claim": "c", "story_ids": [1]}],
    )
    assert quality_notes(draft, [{"url": "u", "title": "t"}], set()) == ["summary is empty or too short"]
    good = draft.model_copy(update={"summary_text": "A summary that is long enough to read."})
    assert quality_notes(good, [{"url": "u", "title": "t"}], set()) == []
    assert quality_notes(good, [], {1}) == ["no sources to cite", "cites stories that no longer exist: [1]"]


def test_cli_analyze_and_publish_json_last_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INGESTION_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["collect", "000660.KS", "--source", "sample"]) == 0
    capsys.readouterr()
    assert main(["analyze", "000660.KS", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(line) == {"status", "insight_id", "model", "prompt_tokens", "completion_tokens", "cost_usd"}
    assert line["status"] == "saved" and line["model"] == "offline"
    assert Path("var/storage/reports/000660.KS", f"{line['insight_id']}.json").is_file()  # published at once
    assert main(["publish", "--json"]) == 0
    published = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert published["published"] == 0 and published["skipped"] == 0
    assert main(["analyze", "000660.KS", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["status"] == "no_articles"

"""OpenDART source against a real local HTTP server speaking OpenDART's protocol: filings,
status codes, the corp-code map and its cache, the refresh command, and filings as reports."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from stockteacher.ingest.collect import collect_core, prepare_articles
from stockteacher.logs import configure_logging
from stockteacher.pipeline import run_pipeline
from stockteacher.settings import Settings
from stockteacher.sources import build_source
from stockteacher.sources.base import (
    MalformedResponseError,
    PermanentSourceError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)
from stockteacher.sources.dart import KST, CorpCodes, load_corp_codes, save_corp_codes
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, JobRun, Report
from stockteacher.tickers.registry import lookup
from tests.factories.sources import DART_API_KEY
from tests.servers.dart import FakeDart, corp_code_zip, make_filing, status_body, status_xml, today_kst

SettingsFactory = Callable[..., Settings]
SAMSUNG = "005930.KS"
VIEWER = "https://dart.fss.or.kr/dsaf001/main.do?rcpNo="


def fetch(settings: Settings, symbol: str = SAMSUNG) -> list[RawArticle]:
    return asyncio.run(build_source("dart", settings).fetch(lookup(symbol)))


def filings(n: int) -> list[dict[str, object]]:
    return [make_filing(f"임원ㆍ주요주주특정증권등소유상황보고서 {i}", days_ago=i % 5, seq=i) for i in range(n)]


# --- filings ---------------------------------------------------------------------------------


def test_lists_a_companys_filings_with_the_documented_parameters(
    dart: FakeDart, dart_settings: SettingsFactory
) -> None:
    dart.filings = [
        make_filing("주요사항보고서(유상증자결정)", days_ago=1, seq=1),
        make_filing("[기재정정]  분기보고서 (2026.09) ", days_ago=2, seq=2, rm="정"),
        make_filing("현금ㆍ현물배당결정", days_ago=3, seq=3, rm="유연"),
        make_filing("주식등의대량보유상황보고서(일반)", days_ago=4, seq=4, flr_nm="국민연금공단", rm=""),
    ]
    articles = fetch(dart_settings())

    assert dart.list_api.count == 1
    request = dart.list_api.requests[0]
    today = today_kst()
    assert request.arg("crtfc_key") == DART_API_KEY
    assert request.arg("corp_code") == "00126380"  # 005930 through the corp-code map
    assert request.arg("bgn_de") == (today - timedelta(days=7)).strftime("%Y%m%d")
    assert request.arg("end_de") == today.strftime("%Y%m%d")
    assert (request.arg("page_no"), request.arg("page_count")) == ("1", "100")
    assert (request.arg("sort"), request.arg("sort_mth")) == ("date", "desc")

    first = articles[0]
    assert first.title == "주요사항보고서(유상증자결정)"
    assert first.url == VIEWER + dart.filings[0]["rcept_no"]
    assert first.source_name == "DART" and first.language == "ko" and first.author == "삼성전자"
    day = today - timedelta(days=1)
    assert first.published_at == datetime(day.year, day.month, day.day, tzinfo=KST)
    assert first.body == "삼성전자(005930) 공시 · 제출인 삼성전자 · 유가증권시장본부 소관"
    assert first.description is None  # nothing sets it apart from the company's other filings
    assert articles[1].title == "[기재정정] 분기보고서 (2026.09)"
    assert articles[1].description == "이후 정정 공시 있음"
    assert articles[1].body == "삼성전자(005930) 공시 · 제출인 삼성전자 · 이후 정정 공시 있음"
    assert articles[2].description == "연결부분 포함"
    assert articles[2].body.endswith("유가증권시장본부 소관 · 연결부분 포함")
    assert articles[3].description == "제출인 국민연금공단" and articles[3].author == "국민연금공단"
    assert articles[3].body == "삼성전자(005930) 공시 · 제출인 국민연금공단"


def test_pages_through_total_page(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    dart.filings = filings(25)
    articles = fetch(dart_settings(dart_page_count=10))

    assert dart.list_api.pages() == [1, 2, 3]
    assert [r.arg("page_count") for r in dart.list_api.requests] == ["10", "10", "10"]
    assert len(articles) == 25 and len({a.url for a in articles}) == 25
    dates = [a.published_at for a in articles]
    assert dates == sorted(dates, reverse=True)  # newest first, as asked


def test_stops_at_the_page_cap(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    dart.filings = filings(25)
    articles = fetch(dart_settings(dart_page_count=10, dart_max_pages=2))

    assert dart.list_api.pages() == [1, 2]
    assert len(articles) == 20


def test_the_lookback_window_bounds_the_filings(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    dart.filings = [make_filing("최근 공시", days_ago=1, seq=1), make_filing("오래된 공시", days_ago=20, seq=2)]
    assert [a.title for a in fetch(dart_settings(dart_lookback_days=7))] == ["최근 공시"]
    assert len(fetch(dart_settings(dart_lookback_days=30))) == 2


def test_no_filings_013_is_an_empty_result(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    assert fetch(dart_settings()) == []
    assert dart.list_api.count == 1  # answered 013, not retried


# --- status codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("010", SourceConfigError),
        ("011", SourceConfigError),
        ("012", SourceConfigError),
        ("901", SourceConfigError),
        ("014", PermanentSourceError),
        ("021", PermanentSourceError),
        ("100", PermanentSourceError),
        ("101", PermanentSourceError),
        ("555", PermanentSourceError),  # one OpenDART does not document
    ],
)
def test_permanent_statuses_fail_at_once(
    dart: FakeDart, dart_settings: SettingsFactory, status: str, kind: type[SourceError]
) -> None:
    dart.filings = filings(3)
    dart.list_api.fail_next(5, status=200, json=status_body(status))
    with pytest.raises(kind) as info:
        fetch(dart_settings())

    assert not isinstance(info.value, TransientSourceError)
    assert info.value.code == f"dart_{status}" and info.value.source == "dart"
    assert f"status {status}" in str(info.value)
    assert dart.list_api.count == 1


@pytest.mark.parametrize(
    ("status", "kind"), [("020", RateLimitedError), ("800", TransientSourceError), ("900", TransientSourceError)]
)
def test_transient_statuses_exhaust_the_shared_retry_policy(
    dart: FakeDart, dart_settings: SettingsFactory, status: str, kind: type[SourceError]
) -> None:
    dart.list_api.fail_next(10, status=200, json=status_body(status))
    with pytest.raises(kind) as info:
        fetch(dart_settings(dart_max_retries=2))

    assert info.value.code == f"dart_{status}"
    assert status_body(status)["message"] in str(info.value)
    assert dart.list_api.count == 3  # the first attempt and DART_MAX_RETRIES more


@pytest.mark.parametrize("status", ["020", "800"])
def test_rate_limit_and_maintenance_are_retried_then_succeed(
    dart: FakeDart, dart_settings: SettingsFactory, status: str
) -> None:
    dart.filings = filings(4)
    dart.list_api.fail_next(2, status=200, json=status_body(status))
    assert len(fetch(dart_settings(dart_max_retries=2))) == 4
    assert dart.list_api.count == 3


def test_a_server_error_is_retried(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    dart.filings = filings(2)
    dart.list_api.fail_next(1, status=503, body="Service Unavailable")
    assert len(fetch(dart_settings())) == 2
    assert dart.list_api.count == 2


def test_a_body_that_is_not_json_is_malformed(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    dart.list_api.fail_next(1, status=200, body="<html><body>시스템 점검 중</body></html>", content_type="text/html")
    with pytest.raises(MalformedResponseError):
        fetch(dart_settings())
    assert dart.list_api.count == 1


def test_a_missing_key_is_a_config_error_without_requests(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    for key in (None, "", "   "):
        with pytest.raises(SourceConfigError) as info:
            fetch(dart_settings(dart_api_key=key))
        assert info.value.code == "credentials_missing" and "DART_API_KEY" in str(info.value)
    assert dart.list_api.count == 0 and dart.corp_api.count == 0


# --- which tickers ---------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["AAPL", "TSLA", "BRK.B"])
def test_non_korean_tickers_have_no_filings(dart: FakeDart, dart_settings: SettingsFactory, symbol: str) -> None:
    assert fetch(dart_settings(), symbol) == []
    assert dart.list_api.count == 0 and dart.corp_api.count == 0


def test_a_korean_ticker_missing_from_the_map_is_empty_with_a_warning(
    dart: FakeDart, dart_settings: SettingsFactory, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging(dart_settings(), stream=sys.stderr)
    assert fetch(dart_settings(), "005935.KS") == []  # preferred shares: DART lists the common stock only
    assert dart.corp_api.count == 1 and dart.list_api.count == 0
    err = capsys.readouterr().err
    assert "dart.unknown_company" in err and "005935" in err


# --- bad filings -------------------------------------------------------------------------------


def test_a_bad_filing_is_dropped_with_its_reason_and_an_undated_one_kept(
    dart: FakeDart, dart_settings: SettingsFactory
) -> None:
    dart.filings = [
        make_filing("주요사항보고서(자기주식취득결정)", days_ago=0, seq=1),
        make_filing("접수번호 없는 공시", days_ago=0, seq=2, rcept_no=""),
        make_filing("날짜가 이상한 공시", seq=3, rcept_dt="20261345"),
        make_filing("", days_ago=0, seq=4),
        "not a filing",
        make_filing("영업(잠정)실적(공정공시)", days_ago=1, seq=5),
    ]
    raw = fetch(dart_settings())
    assert len(raw) == 6

    prepared = prepare_articles(raw, lookup(SAMSUNG), source_type="dart")
    assert prepared.invalid == 3
    assert prepared.invalid_reasons == {"bad_url": 1, "no_title": 2}
    assert prepared.irrelevant == 0
    dates = {a.title: a.published_at for a in prepared.articles}
    assert set(dates) == {"주요사항보고서(자기주식취득결정)", "날짜가 이상한 공시", "영업(잠정)실적(공정공시)"}
    assert all(a.url.startswith(VIEWER) and a.source == "DART" for a in prepared.articles)
    assert dates["날짜가 이상한 공시"] is None  # kept: collect dates it by its collection, flagged
    assert dates["영업(잠정)실적(공정공시)"].tzinfo is UTC


# --- the corp-code map -------------------------------------------------------------------------


def test_the_corp_code_map_is_downloaded_once_and_cached(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    settings = dart_settings()
    dart.filings = filings(1)
    fetch(settings)
    fetch(settings)

    assert dart.corp_api.count == 1 and dart.list_api.count == 2
    assert dart.corp_api.requests[0].arg("crtfc_key") == DART_API_KEY
    cache = Path(settings.dart_corp_code_path)
    data = json.loads(cache.read_text(encoding="utf-8"))
    assert data["corp_codes"] == {"000660": "00164779", "005930": "00126380"}  # the unlisted are left out
    assert data["listed"] == 2
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left behind
    assert DART_API_KEY not in cache.read_text(encoding="utf-8")


@pytest.mark.parametrize(("age_hours", "downloads"), [(1, 0), (23, 0), (25, 1), (24 * 30, 1)])
def test_the_cache_is_refreshed_when_older_than_its_max_age(
    dart: FakeDart, dart_settings: SettingsFactory, age_hours: float, downloads: int
) -> None:
    settings = dart_settings(dart_corp_code_max_age_hours=24)
    cached = CorpCodes(fetched_at=datetime.now(UTC) - timedelta(hours=age_hours), by_stock_code={"005930": "99999999"})
    save_corp_codes(settings.dart_corp_code_path, cached)
    fetch(settings)

    assert dart.corp_api.count == downloads
    used = dart.list_api.requests[0].arg("corp_code")
    assert used == ("99999999" if downloads == 0 else "00126380")
    reloaded = load_corp_codes(settings.dart_corp_code_path)
    assert reloaded is not None and (reloaded.fetched_at > cached.fetched_at) == bool(downloads)


def test_a_stale_map_is_used_while_the_refresh_fails_transiently(
    dart: FakeDart, dart_settings: SettingsFactory
) -> None:
    settings = dart_settings(dart_max_retries=1)
    stale = CorpCodes(fetched_at=datetime.now(UTC) - timedelta(days=3), by_stock_code={"005930": "00126380"})
    save_corp_codes(settings.dart_corp_code_path, stale)
    dart.filings = filings(2)
    dart.corp_api.fail_next(5, status=200, body=status_xml("800"), content_type="application/xml")

    assert len(fetch(settings)) == 2
    assert dart.corp_api.count == 2  # tried, and retried once
    assert load_corp_codes(settings.dart_corp_code_path) == stale


def test_an_unreadable_cache_is_downloaded_anew(dart: FakeDart, dart_settings: SettingsFactory) -> None:
    settings = dart_settings()
    Path(settings.dart_corp_code_path).parent.mkdir(parents=True)
    Path(settings.dart_corp_code_path).write_text("{half a file", encoding="utf-8")
    fetch(settings)
    assert dart.corp_api.count == 1
    assert load_corp_codes(settings.dart_corp_code_path) is not None


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        ({"body": status_xml("010"), "content_type": "application/xml"}, SourceConfigError, "dart_010"),
        ({"json": status_body("020")}, RateLimitedError, "dart_020"),
        ({"json": status_body("901")}, SourceConfigError, "dart_901"),
        ({"body": "<html>점검</html>", "content_type": "text/html"}, MalformedResponseError, "malformed_response"),
        (
            {"body": b"PK\x03\x04 broken", "content_type": "application/zip"},
            MalformedResponseError,
            "malformed_response",
        ),
    ],
)
def test_corp_code_error_answers_instead_of_a_zip(
    dart: FakeDart, dart_settings: SettingsFactory, answer: dict[str, object], kind: type[SourceError], code: str
) -> None:
    dart.corp_api.fail_next(10, status=200, **answer)  # type: ignore[arg-type]
    with pytest.raises(kind) as info:
        fetch(dart_settings(dart_max_retries=1))
    assert info.value.code == code
    assert dart.list_api.count == 0
    assert not Path(dart_settings().dart_corp_code_path).exists()


def test_a_zip_without_xml_or_without_listed_companies_is_malformed(
    dart: FakeDart, dart_settings: SettingsFactory
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "nothing here")
    dart.corp_api.fail_next(1, status=200, body=buffer.getvalue(), content_type="application/zip")
    with pytest.raises(MalformedResponseError, match="no XML"):
        fetch(dart_settings())

    dart.corp_api.fail_next(1, status=200, body=corp_code_zip(dart.companies[2:]), content_type="application/zip")
    with pytest.raises(MalformedResponseError, match="no listed company"):
        fetch(dart_settings())


# --- secrets -------------------------------------------------------------------------------------


def test_the_key_reaches_no_log_and_no_error_message(
    dart: FakeDart, dart_settings: SettingsFactory, restore_logging: None
) -> None:
    settings = dart_settings(structlog_level="DEBUG", dart_max_retries=1)
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    dart.filings = filings(2)
    fetch(settings)  # httpx logs every request URL at DEBUG
    dart.list_api.fail_next(2, status=200, json=status_body("800"))  # both attempts
    with pytest.raises(TransientSourceError) as transient:
        fetch(settings)
    dart.list_api.fail_next(1, status=200, json=status_body("010"))
    with pytest.raises(SourceConfigError) as refused:
        fetch(settings)
    unreachable = dart_settings(structlog_level="DEBUG", dart_endpoint="http://127.0.0.1:9/api", dart_max_retries=0)
    Path(unreachable.dart_corp_code_path).unlink()
    with pytest.raises(TransientSourceError) as down:
        fetch(unreachable)

    logged = stream.getvalue()
    assert "crtfc_key=***" in logged  # the request lines were logged, masked
    for text in (logged, str(transient.value), str(refused.value), str(down.value), repr(down.value.__cause__)):
        assert DART_API_KEY not in text


# --- the refresh command -------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # this checkout, not the installed one
        "INGESTION_REDIS_URL": "redis://127.0.0.1:1/0",
        **env,
    }
    command = [str(Path(sys.executable).with_name("stockteacher")), "dart", "refresh-corp-codes", *args]
    return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)


def test_refresh_command_loads_the_listed_companies(dart: FakeDart, tmp_path: Path) -> None:
    env = {"DART_API_KEY": DART_API_KEY, "DART_ENDPOINT": dart.endpoint}
    done = _cli(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert "2 listed companies" in done.stdout
    cache = tmp_path / "var" / "dart_corp_codes.json"  # the default DART_CORP_CODE_PATH
    assert json.loads(cache.read_text(encoding="utf-8"))["listed"] == 2

    as_json = _cli(tmp_path, "--json", **env, DART_CORP_CODE_PATH=str(tmp_path / "elsewhere.json"))
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert summary["listed"] == 2 and summary["path"] == str(tmp_path / "elsewhere.json")
    assert dart.corp_api.count == 2
    for run in (done, as_json):
        assert DART_API_KEY not in run.stdout + run.stderr


def test_refresh_command_exits_2_on_bad_configuration(dart: FakeDart, tmp_path: Path) -> None:
    missing = _cli(tmp_path, DART_ENDPOINT=dart.endpoint)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == "configuration error: dart: DART_API_KEY is not set"
    assert dart.corp_api.count == 0

    wrong = _cli(tmp_path, "--json", DART_API_KEY="0" * 40, DART_ENDPOINT=dart.endpoint)
    assert wrong.returncode == 2
    assert "등록되지 않은 키입니다" in wrong.stderr.strip().splitlines()[-1]
    assert json.loads(wrong.stdout.strip().splitlines()[-1])["error_code"] == "dart_010"
    assert "0" * 40 not in wrong.stdout + wrong.stderr


def test_refresh_command_exits_1_when_opendart_fails(dart: FakeDart, tmp_path: Path) -> None:
    dart.corp_api.fail_next(10, status=200, json=status_body("800"))
    failed = _cli(tmp_path, DART_API_KEY=DART_API_KEY, DART_ENDPOINT=dart.endpoint, DART_MAX_RETRIES="0")
    assert failed.returncode == 1
    assert "dart_800" in failed.stderr and not (tmp_path / "var" / "dart_corp_codes.json").exists()


# --- filings through the pipeline ----------------------------------------------------------------


def test_filings_are_collected_clustered_and_cited_in_a_report_with_glossary(
    dart: FakeDart, dart_settings: SettingsFactory, pg_dsn: str
) -> None:
    dart.filings = [
        make_filing("주요사항보고서(유상증자결정)", days_ago=0, seq=1, rm="유정"),
        make_filing("[기재정정]주요사항보고서(유상증자결정)", days_ago=0, seq=2),
        make_filing("단일판매ㆍ공급계약체결", days_ago=1, seq=3),
    ]
    settings = dart_settings(postgres_dsn=pg_dsn, analysis_provider="offline", default_locale="ko_KR")

    assert collect_core(SAMSUNG, "dart", settings=settings) == {"fetched": 3, "unique": 3, "saved": 3}
    summary = run_pipeline(settings, [(SAMSUNG, None)], stages=("analyze", "publish")).summary()
    assert summary["status"] == "ok", summary["errors"]
    assert summary["published"] == 1

    with session_scope(pg_dsn) as session:
        stored = session.scalars(select(Article).order_by(Article.id)).all()
        assert {(a.source_type, a.source, a.language) for a in stored} == {("dart", "DART", "ko")}
        # The filing and its correction tell one story; the supply contract another.
        assert len({a.story_id for a in stored}) == 2
        report = session.scalars(select(Report)).one()
        run = session.scalars(select(JobRun).where(JobRun.stage == "collect")).one()
    assert (run.status, run.source) == ("SUCCEEDED", "dart")
    assert report.status == "published" and report.ticker == SAMSUNG
    cited = {ref["url"] for ref in report.source_refs}
    assert cited and all(url.startswith(VIEWER) for url in cited)
    assert VIEWER + dart.filings[0]["rcept_no"] in cited | {
        r["url"] for ref in report.source_refs for r in ref["also_reported_by"]
    }
    glossary = {g["term"]: g["explanation"] for g in report.glossary}
    assert "유상증자" in glossary and "새 주식" in glossary["유상증자"]
    assert "주요사항보고서" in glossary and "기재정정" in glossary
    assert any("단일판매" in term for term in glossary)
    assert "share_offering" in {a["label"] for a in report.anomalies}


def test_dart_is_a_source_name_everywhere(make_settings: SettingsFactory) -> None:
    from stockteacher.core.vocabulary import SOURCES, vocabulary
    from stockteacher.settings import CollectionSchedule

    assert "dart" in SOURCES and "dart" in vocabulary()["sources"]
    schedule = CollectionSchedule.model_validate({"ticker": "005930", "source": "dart", "interval_minutes": 60})
    assert (schedule.ticker, schedule.source) == (SAMSUNG, "dart")
    workers = make_settings(dart_corp_code_path="./var/codes.json").for_workers()
    assert os.path.isabs(workers.dart_corp_code_path)

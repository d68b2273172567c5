"""The price chart, a report's outcome and the track record on the web page, in a real browser.

Bars come from the sample price source (stored as a backfill from 1 June 2026), reports are
inserted directly with publication times in the past, and `track.service.evaluate` computes
their outcomes and the stored track records, all at a fixed NOW; the page then reads them
through the API like any other. Serving, the browser and the artifacts directory are those of
`test_browser.py`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from stockteacher.settings import Settings
from tests.factories.browser import ARTIFACTS, browser_page, require_chromium, serve
from tests.factories.reports import insert_reports

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CALL_SCORES = (0.5, -0.5, 0.8, -0.7)
CALLING_REPORTS = 24  # AAPL: enough calls (≥ 20) for a hit rate with an interval
# Text that must never reach the reader: a vocabulary or field name, or an i18n key.
RAW_KEY = re.compile(
    r"\{\w+\}|\b[a-z]+(?:_[a-z0-9]+)+\b|\b(?:track|outcome|price|bucket|benchmark|nav|detail)\.[a-z_]+\b"
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    require_chromium()


@dataclass
class Seeded:
    settings: Settings
    late: str  # AAPL, after the close on Fri 20 Nov: +1 and +5 known, +20 not yet
    neutral: str  # AAPL, 2 Nov, inside the neutral band: no call
    fresh: str  # AAPL, 1 Dec: no outcome yet
    msft: str  # MSFT: three calls only


def _seed(settings: Settings) -> Seeded:
    from stockteacher.prices.sample import SamplePriceSource
    from stockteacher.prices.service import refresh_prices, symbols_for
    from stockteacher.store import migrate
    from stockteacher.track.service import evaluate

    migrate.upgrade(settings.dsn)
    result = asyncio.run(
        refresh_prices(
            settings, SamplePriceSource(now=NOW), symbols_for(["AAPL", "MSFT"]), start=date(2026, 6, 1), now=NOW
        )
    )
    assert not result.errors and result.bars > 0
    first = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)
    calling = [
        {
            "ticker": "AAPL",
            "published_at": first + timedelta(days=5 * i),
            "sentiment_score": CALL_SCORES[i % len(CALL_SCORES)],
            "headline": f"AAPL 뉴스 {(first + timedelta(days=5 * i)).date().isoformat()}",
        }
        for i in range(CALLING_REPORTS)
    ]
    special = [
        {"ticker": "AAPL", "published_at": datetime(2026, 11, 20, 21, 30, tzinfo=UTC), "sentiment_score": 0.5,
         "headline": "애플, 새 제품 호평"},
        {"ticker": "AAPL", "published_at": datetime(2026, 11, 2, 15, 0, tzinfo=UTC), "sentiment_score": 0.1,
         "headline": "애플, 평범한 하루"},
        {"ticker": "AAPL", "published_at": datetime(2026, 12, 1, 22, 0, tzinfo=UTC), "sentiment_score": 0.9,
         "headline": "애플, 어제 발표"},
        {"ticker": "MSFT", "published_at": datetime(2026, 9, 15, 15, 0, tzinfo=UTC), "sentiment_score": 0.6,
         "headline": "마이크로소프트, 클라우드 성장"},
        {"ticker": "MSFT", "published_at": datetime(2026, 10, 6, 15, 0, tzinfo=UTC), "sentiment_score": -0.4},
        {"ticker": "MSFT", "published_at": datetime(2026, 10, 20, 15, 0, tzinfo=UTC), "sentiment_score": 0.3},
    ]  # fmt: skip
    insert_reports(settings, calling)
    late, neutral, fresh, msft, *_ = insert_reports(settings, special)
    evaluate(settings, now=NOW)
    return Seeded(settings, late, neutral, fresh, msft)


@pytest.fixture
def seeded(make_settings: Callable[..., Settings]) -> Seeded:
    return _seed(make_settings())


def pct(value: float) -> str:
    """The page's signed percentage (js/format.js `formatReturn`)."""
    tenths = round(value * 1000)
    if tenths == 0:
        return "0.0%"
    return f"{'+' if tenths > 0 else '-'}{abs(tenths) / 10:.1f}%"


def rate(value: float) -> str:
    return f"{round(value * 100)}%"


def _assert_no_raw_keys(page: Any) -> None:
    text = page.locator("body").inner_text()
    found = sorted(set(m.group(0) for m in RAW_KEY.finditer(text)))
    assert found == [], found


def _assert_nothing_cut_off(page: Any) -> None:
    """No horizontal scrolling, and no element of the detail sticking out of the viewport."""
    overflow = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const node of document.querySelectorAll('#main *')) {
            const box = node.getBoundingClientRect();
            if (box.width && (box.right > width + 1 || box.left < -1) && !node.closest('.table-wrap')) {
              out.push(`${node.tagName}.${node.className && node.className.baseVal !== undefined ? node.className.baseVal : node.className}`);
            }
          }
          return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 10)};
        }"""
    )
    assert overflow["scroll"] <= overflow["width"], overflow
    assert overflow["out"] == [], overflow


def _unstick_detail(page: Any) -> None:
    """For a full-page picture: the detail column stops scrolling on its own (CSSOM, which the
    page's CSP allows, unlike an inline style sheet)."""
    page.evaluate(
        "() => { const c = document.querySelector('.detail-column'); c.style.position = 'static';"
        " c.style.maxHeight = 'none'; }"
    )


def test_price_chart_outcome_and_track_record(seeded: Seeded) -> None:
    from playwright.sync_api import expect

    with serve(seeded.settings) as base, browser_page() as (page, errors), httpx.Client(base_url=base) as api:
        prices = api.get("/api/tickers/AAPL/prices").json()
        assert prices["bars"], "the sample source stored no bars"
        first_day = prices["bars"][0]["date"]
        aapl = api.get("/api/reports", params={"tickers": "AAPL", "limit": 100}).json()
        in_range = [r for r in aapl if r["published_at"][:10] >= first_day]
        assert len(in_range) == CALLING_REPORTS + 3
        late = api.get(f"/api/reports/{seeded.late}").json()
        outcome = late["outcome"]
        assert set(outcome) == {"1", "5"}

        page.goto(f"{base}/#report={seeded.late}")
        detail = page.get_by_test_id("report-detail")
        expect(detail).to_have_attribute("data-insight-id", seeded.late)

        # The price chart: a line and one marker per AAPL report over its days, by sentiment.
        chart = detail.get_by_test_id("price-chart")
        expect(chart).to_be_visible()
        expect(chart.get_by_test_id("price-line")).to_have_count(1)
        markers = chart.get_by_test_id("price-marker")
        expect(markers).to_have_count(len(in_range))
        current = chart.locator(f'[data-testid=price-marker][data-insight-id="{seeded.late}"]')
        expect(current).to_have_attribute("aria-current", "true")
        expect(current).to_have_attribute("data-sentiment", "positive")
        expect(current).to_have_attribute("aria-label", re.compile("지금 보고 있는 리포트"))
        neutral_marker = chart.locator(f'[data-testid=price-marker][data-insight-id="{seeded.neutral}"]')
        expect(neutral_marker).to_have_attribute("data-sentiment", "neutral")
        expect(neutral_marker).to_have_attribute("aria-label", re.compile("중립.*애플, 평범한 하루"))
        negatives = chart.locator("[data-testid=price-marker][data-sentiment=negative]")
        expect(negatives).to_have_count(sum(1 for r in in_range if r["sentiment_score"] < -0.2))
        expect(detail.get_by_test_id("price-legend")).to_contain_text("긍정 리포트")
        expect(detail.get_by_test_id("price-benchmark")).to_contain_text("비교 지수: S&P 500")

        # The outcome in words, from the API's fractions; +20 is not known yet.
        rows = detail.get_by_test_id("outcome-row")
        expect(rows).to_have_count(3)
        for days in ("1", "5"):
            o = outcome[days]
            row = detail.locator(f"[data-testid=outcome-row][data-horizon='{days}']")
            expect(row.get_by_test_id("outcome-text")).to_have_text(
                f"발표 후 {days}거래일: 주가 {pct(o['return'])} · S&P 500 {pct(o['benchmark_return'])}"
                f" · 초과수익 {pct(o['excess_return'])}"
            )
            expected = {True: "뉴스 해석과 같은 방향", False: "반대 방향", None: "중립: 판정하지 않음"}[o["hit"]]
            expect(row.get_by_test_id("outcome-verdict")).to_contain_text(expected)
            expect(row).to_contain_text(o["base_date"])
        expect(detail.locator("[data-testid=outcome-row][data-horizon='20']")).to_have_text(
            "발표 후 20거래일: 아직 알 수 없음 (20거래일이 지나지 않았어요)"
        )
        expect(detail.get_by_test_id("detail-outcome")).to_contain_text("0일째는 리포트 발표 후 첫 종가")

        # AAPL's track record: ≥ 20 calls, so a hit rate with its interval.
        record = api.get("/api/tickers/AAPL/track-record").json()
        assert record["enough_data"] and record["calls"] >= 20
        panel = detail.get_by_test_id("track-panel")
        expect(panel).to_have_attribute("data-enough", "true")
        lo, hi = record["hit_rate_ci95"]
        expect(panel.get_by_test_id("track-summary")).to_have_text(
            f"발표 후 5거래일 기준: 판정 {record['calls']}건 중 {record['hits']}건 적중"
            f" · 적중률 {rate(record['hit_rate'])} (95% 구간 {rate(lo)} ~ {rate(hi)})"
        )
        five = panel.locator("[data-testid=horizon-card][data-horizon='5']")
        expect(five.get_by_test_id("horizon-interval")).to_have_text(f"95% 구간 {rate(lo)} ~ {rate(hi)}")
        buckets = panel.get_by_test_id("bucket-row")
        expect(buckets).to_have_count(5)
        expect(panel.get_by_test_id("bucket-table")).to_contain_text("매우 긍정")
        expect(panel.get_by_test_id("track-disclaimer")).to_contain_text("투자 권유나 투자 자문이 아닙니다")
        expect(panel.get_by_test_id("track-explain")).to_contain_text("95% 구간")
        _assert_no_raw_keys(page)
        _assert_nothing_cut_off(page)

        ARTIFACTS.mkdir(exist_ok=True)
        detail.get_by_test_id("detail-prices").scroll_into_view_if_needed()
        detail.get_by_test_id("detail-outcome").screenshot(path=str(ARTIFACTS / "track-outcome-desktop.png"))
        detail.get_by_test_id("detail-prices").screenshot(path=str(ARTIFACTS / "track-price-chart-desktop.png"))
        detail.get_by_test_id("detail-track").screenshot(path=str(ARTIFACTS / "track-panel-desktop.png"))
        _unstick_detail(page)
        page.screenshot(path=str(ARTIFACTS / "track-detail-desktop.png"), full_page=True)

        # A click on another report's marker opens that report.
        neutral_marker.click()
        expect(detail).to_have_attribute("data-insight-id", seeded.neutral)
        expect(detail.get_by_test_id("detail-headline")).to_have_text("애플, 평범한 하루")
        assert page.evaluate("location.hash") == f"#report={seeded.neutral}"
        row5 = detail.locator("[data-testid=outcome-row][data-horizon='5']")
        expect(row5.get_by_test_id("outcome-verdict")).to_have_text("– 중립: 판정하지 않음")

        # A report with no outcome yet: every horizon says it is not known.
        page.goto(f"{base}/#report={seeded.fresh}")
        expect(detail).to_have_attribute("data-insight-id", seeded.fresh)
        expect(detail.locator("[data-testid=outcome-row][data-known=false]")).to_have_count(3)

        # MSFT: three calls, not enough data; its own benchmark line and markers.
        page.goto(f"{base}/#report={seeded.msft}")
        expect(detail).to_have_attribute("data-insight-id", seeded.msft)
        panel = detail.get_by_test_id("track-panel")
        expect(panel).to_have_attribute("data-enough", "false")
        expect(panel.get_by_test_id("track-summary")).to_contain_text("데이터 부족 (판정 20건 미만)")
        expect(panel.get_by_test_id("track-summary")).to_contain_text("판정 3건 중")
        expect(panel.get_by_test_id("horizon-not-enough").first).to_have_text("데이터 부족 (판정 20건 미만)")
        expect(panel.get_by_test_id("horizon-interval")).to_have_count(0)
        expect(detail.get_by_test_id("price-marker")).to_have_count(3)
        _assert_no_raw_keys(page)

        # The overall record on its own tab: every report together, then each ticker.
        overall = api.get("/api/track-record").json()
        page.get_by_test_id("tab-track").click()
        view = page.get_by_test_id("view-track")
        expect(view).to_be_visible()
        summary = view.get_by_test_id("track-overall").get_by_test_id("track-summary")
        o = overall["overall"]
        expect(summary).to_contain_text(f"판정 {o['calls']}건 중 {o['hits']}건 적중")
        expect(summary).to_contain_text(f"적중률 {rate(o['hit_rate'])}")
        ticker_rows = view.get_by_test_id("track-ticker-row")
        expect(ticker_rows).to_have_count(2)
        expect(view.locator("[data-testid=track-ticker-row][data-ticker=MSFT]")).to_contain_text("데이터 부족")
        expect(view.locator("[data-testid=track-ticker-row][data-ticker=AAPL]")).to_contain_text("95% 구간")
        expect(view.get_by_test_id("track-disclaimer")).to_be_visible()
        _assert_no_raw_keys(page)
        _assert_nothing_cut_off(page)
        page.screenshot(path=str(ARTIFACTS / "track-overall-desktop.png"), full_page=True)

        # English.
        page.get_by_test_id("lang-switch").select_option("en")
        expect(page.get_by_test_id("tab-track")).to_have_text("Track record")
        expect(view.locator("[data-testid=track-ticker-row][data-ticker=MSFT]")).to_contain_text(
            "Not enough data (fewer than 20 calls)"
        )
        expect(view.get_by_test_id("track-disclaimer")).to_contain_text("not investment advice")
        expect(view.get_by_test_id("bucket-table")).to_contain_text("Very positive")
        expect(view.get_by_test_id("bucket-table")).to_contain_text("Day +20")
        expect(view.get_by_test_id("horizon-card").first).to_contain_text("+1 trading day")
        _assert_no_raw_keys(page)
        page.screenshot(path=str(ARTIFACTS / "track-overall-desktop-en.png"), full_page=True)
        page.get_by_test_id("tab-reports").click()
        page.goto(f"{base}/#report={seeded.late}")
        expect(detail).to_have_attribute("data-insight-id", seeded.late)
        o5 = outcome["5"]
        expect(
            detail.locator("[data-testid=outcome-row][data-horizon='5']").get_by_test_id("outcome-text")
        ).to_have_text(
            f"+5 trading days: {pct(o5['return'])} vs S&P 500 {pct(o5['benchmark_return'])}"
            f" · excess return {pct(o5['excess_return'])}"
        )
        o1 = outcome["1"]
        expect(
            detail.locator("[data-testid=outcome-row][data-horizon='1']").get_by_test_id("outcome-text")
        ).to_have_text(
            f"+1 trading day: {pct(o1['return'])} vs S&P 500 {pct(o1['benchmark_return'])}"
            f" · excess return {pct(o1['excess_return'])}"
        )
        expect(detail.locator("[data-testid=outcome-row][data-horizon='20']")).to_have_text(
            "+20 trading days: not known yet (20 trading days have not passed)"
        )
        expect(detail.get_by_test_id("price-benchmark")).to_contain_text("Benchmark: S&P 500")
        expect(detail.get_by_test_id("track-panel").get_by_test_id("track-summary")).to_contain_text(
            "At +5 trading days"
        )
        _assert_no_raw_keys(page)
        _unstick_detail(page)
        page.screenshot(path=str(ARTIFACTS / "track-detail-desktop-en.png"), full_page=True)
        detail.get_by_test_id("detail-outcome").screenshot(path=str(ARTIFACTS / "track-outcome-desktop-en.png"))
        detail.get_by_test_id("detail-track").screenshot(path=str(ARTIFACTS / "track-panel-desktop-en.png"))

        # A phone: nothing sticks out, in Korean again.
        page.get_by_test_id("lang-switch").select_option("ko")
        page.set_viewport_size({"width": 390, "height": 844})
        expect(detail.get_by_test_id("price-chart")).to_be_visible()
        _assert_nothing_cut_off(page)
        page.screenshot(path=str(ARTIFACTS / "track-detail-mobile.png"), full_page=True)
        for part, name in (("detail-outcome", "outcome"), ("detail-prices", "price-chart"), ("detail-track", "panel")):
            detail.get_by_test_id(part).screenshot(path=str(ARTIFACTS / f"track-{name}-mobile.png"))
        page.get_by_test_id("tab-track").click()
        expect(view.get_by_test_id("track-overall")).to_be_visible()
        _assert_nothing_cut_off(page)
        page.screenshot(path=str(ARTIFACTS / "track-overall-mobile.png"), full_page=True)
        assert errors == []


def test_no_bars_says_so_instead_of_an_empty_chart(make_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    from stockteacher.store import migrate

    settings = make_settings()
    migrate.upgrade(settings.dsn)
    (only,) = insert_reports(
        settings, [{"ticker": "005930.KS", "published_at": datetime(2026, 11, 30, 1, 0, tzinfo=UTC),
                    "sentiment_score": -0.5, "headline": "삼성전자 소식"}]
    )  # fmt: skip
    with serve(settings) as base, browser_page() as (page, errors):
        page.goto(f"{base}/#report={only}")
        detail = page.get_by_test_id("report-detail")
        expect(detail.get_by_test_id("price-empty")).to_have_text("가격 데이터가 아직 없습니다.")
        expect(detail.get_by_test_id("price-chart")).to_have_count(0)
        expect(detail.get_by_test_id("price-benchmark")).to_contain_text("비교 지수: 코스피")
        expect(detail.get_by_test_id("track-empty")).to_be_visible()
        expect(detail.locator("[data-testid=outcome-row][data-known=false]")).to_have_count(3)
        _assert_no_raw_keys(page)
        page.get_by_test_id("lang-switch").select_option("en")
        expect(detail.get_by_test_id("price-empty")).to_have_text("No price data yet.")
        expect(detail.get_by_test_id("price-benchmark")).to_contain_text("Benchmark: KOSPI")
        assert errors == []

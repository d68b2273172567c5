"""The web page in a real browser: Debian chromium driven by Playwright against the real app.

The app (`create_app`) runs under uvicorn in a background thread on 127.0.0.1, over a SQLite
database seeded by the sample pipeline (collect → offline analysis → publish). Chat uses the
offline engine, since no OpenAI key is set. The tests fail on any browser console error.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockteacher.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_SERVICES = os.environ.get("STOCKTEACHER_REQUIRE_SERVICES") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SEED_TICKERS = ("AAPL", "MSFT")
CHAT_SESSIONS_KEY = "stockteacher.chatSessions"
QUESTION = '이 뉴스가 주가에 어떤 의미가 있나요? <img src=x onerror="window.__xss=1">'

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (install Debian's `chromium` package)"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and STOCKTEACHER_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _seed(settings: Settings) -> None:
    """Migrate the database and publish one offline-analysed report per seed ticker."""
    from stockteacher.analysis.service import analyze_core
    from stockteacher.ingest.collect import collect_core
    from stockteacher.publish.materialize import materialize_reports
    from stockteacher.store import migrate

    migrate.upgrade(settings.dsn)
    for ticker in SEED_TICKERS:
        collect_core(ticker, "sample", settings=settings)
        assert analyze_core(ticker, settings=settings)["status"] == "saved"
    assert len(materialize_reports(settings=settings).published) == len(SEED_TICKERS)


@contextmanager
def _serve(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    import uvicorn

    from stockteacher.api.app import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start", pytrace=False)
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def _browser_page() -> Iterator[tuple[Any, list[str]]]:
    """A fresh chromium page and the list its console errors and uncaught exceptions go to."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            yield page, errors
        finally:
            browser.close()


def _take_expected_failure(errors: list[str], status: int) -> None:
    """Chromium logs every 4xx answer as a console error; remove the one the test provoked."""
    prefix = f"console: Failed to load resource: the server responded with a status of {status}"
    matching = [e for e in errors if e.startswith(prefix)]
    assert len(matching) == 1, errors
    errors.remove(matching[0])


@pytest.fixture
def seeded_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        settings = make_settings(**overrides)
        _seed(settings)
        return settings

    return factory


def test_reports_subscriptions_detail_chat_favourite_language(seeded_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    settings = seeded_settings()
    with _serve(settings) as base, _browser_page() as (page, errors), httpx.Client(base_url=base) as api:
        page.goto(base + "/")

        # The list, in Korean (the configured default locale).
        rows = page.get_by_test_id("report-row")
        expect(rows).to_have_count(len(SEED_TICKERS))
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        expect(page.get_by_test_id("tab-reports")).to_have_text("리포트")
        expect(rows.first.get_by_test_id("sentiment-badge")).to_be_visible()
        expect(rows.first.locator("time")).not_to_be_empty()

        # Filters go to the API: one ticker → one row.
        page.get_by_test_id("filter-tickers").fill("msft")
        page.get_by_test_id("filter-apply").click()
        expect(rows).to_have_count(1)
        expect(rows.first.get_by_test_id("report-ticker")).to_have_text("MSFT")
        page.get_by_test_id("filter-reset").click()
        expect(rows).to_have_count(len(SEED_TICKERS))

        # Subscriptions: add two, change one's window, delete the other; a duplicate shows the 409 detail.
        page.get_by_test_id("tab-subscriptions").click()
        page.get_by_test_id("subscribe-ticker").fill("aapl")
        page.get_by_test_id("subscribe-window").select_option("weekly")
        page.get_by_test_id("subscribe-submit").click()
        sub_rows = page.get_by_test_id("subscription-row")
        expect(sub_rows).to_have_count(1)
        expect(sub_rows.first.get_by_test_id("subscription-ticker")).to_have_text("AAPL")
        expect(sub_rows.first.get_by_test_id("subscription-window")).to_have_value("weekly")
        # no verified channel yet: the subscription waits for one (notifications issue)
        expect(sub_rows.first.get_by_test_id("subscription-status")).to_have_attribute(
            "data-status", "PendingVerification"
        )
        page.get_by_test_id("subscribe-ticker").fill("NVDA")
        page.get_by_test_id("subscribe-window").select_option("daily_open")
        page.get_by_test_id("subscribe-submit").click()
        expect(sub_rows).to_have_count(2)
        sub_rows.first.get_by_test_id("subscription-window").select_option("daily_close")
        expect(page.get_by_test_id("subs-message")).to_contain_text("AAPL")
        sub_rows.filter(has_text="NVDA").get_by_test_id("subscription-delete").click()
        expect(sub_rows).to_have_count(1)
        stored = api.get("/api/subscriptions").json()
        assert [(s["ticker"], s["alert_window"]) for s in stored] == [("AAPL", "daily_close")]
        page.get_by_test_id("subscribe-ticker").fill("AAPL")
        page.get_by_test_id("subscribe-submit").click()
        expect(page.get_by_test_id("subs-message")).to_contain_text("already subscribed to AAPL")
        expect(sub_rows).to_have_count(1)
        _take_expected_failure(errors, 409)

        # Notification policy: the API's 422 reason is shown; a valid policy is saved.
        page.get_by_test_id("tab-notifications").click()
        expect(page.get_by_test_id("policy-timezone")).to_have_value("Asia/Seoul")
        page.get_by_test_id("policy-timezone").select_option("America/New_York")
        page.get_by_test_id("policy-window").select_option("immediate")
        page.get_by_test_id("policy-frequency").select_option("weekly")
        page.get_by_test_id("policy-channel-web-push").check()
        page.get_by_test_id("policy-quiet-start").fill("08:00")
        page.get_by_test_id("policy-save").click()
        message = page.get_by_test_id("policy-message")
        expect(message).to_have_class("message error")
        expect(message).to_contain_text("quiet_hours")
        _take_expected_failure(errors, 422)
        page.get_by_test_id("policy-quiet-end").fill("09:30")
        page.get_by_test_id("policy-save").click()
        expect(message).to_have_text("알림 설정을 저장했습니다.")
        policy = api.get("/api/notifications/policy").json()
        assert {k: policy[k] for k in ("timezone", "window", "frequency", "quiet_hours_start", "quiet_hours_end")} == {
            "timezone": "America/New_York",
            "window": "immediate",
            "frequency": "weekly",
            "quiet_hours_start": "08:00",
            "quiet_hours_end": "09:30",
        }
        assert sorted(policy["channels"]) == ["email", "web-push"]

        # Report detail: sources open in a new tab without an opener; the chart is drawn.
        page.get_by_test_id("tab-reports").click()
        row = rows.filter(has_text="AAPL")
        headline = row.get_by_test_id("report-headline").inner_text()
        row.get_by_test_id("report-open").click()
        detail = page.get_by_test_id("report-detail")
        expect(detail).to_be_visible()
        expect(detail.get_by_test_id("detail-headline")).to_have_text(headline)
        expect(detail.get_by_test_id("detail-summary")).not_to_be_empty()
        links = detail.get_by_test_id("source-link")
        expect(links.first).to_be_visible()
        expect(links.first).to_have_attribute("rel", "noopener noreferrer")
        expect(links.first).to_have_attribute("target", "_blank")
        chart = detail.get_by_test_id("sentiment-chart")
        expect(chart).to_be_visible()
        expect(chart.get_by_test_id("chart-point")).to_have_count(1)
        expect(chart.get_by_test_id("chart-zero-line")).to_have_count(1)
        insight_id = detail.get_attribute("data-insight-id")
        assert insight_id

        # Favourite from the detail: the row's star follows, and the API agrees.
        star = detail.get_by_test_id("favorite-toggle")
        expect(star).to_have_attribute("aria-pressed", "false")
        star.click()
        expect(detail.get_by_test_id("favorite-toggle")).to_have_attribute("aria-pressed", "true")
        expect(row.get_by_test_id("favorite-toggle")).to_have_attribute("aria-pressed", "true")
        favourites = api.get("/api/reports", params={"favorites_only": "true"}).json()
        assert [r["insight_id"] for r in favourites] == [insight_id]
        page.get_by_test_id("filter-favorites").check()
        page.get_by_test_id("filter-apply").click()
        expect(rows).to_have_count(1)

        # Chat: record every state of the teacher's bubble while the answer streams in.
        page.get_by_test_id("chat-input").fill(QUESTION)
        page.evaluate(
            """() => {
                window.__agentTexts = [];
                const list = document.querySelector('[data-testid=chat-messages]');
                new MutationObserver(() => {
                    const bubbles = list.querySelectorAll('[data-testid=chat-agent-message]');
                    if (bubbles.length) window.__agentTexts.push(bubbles[bubbles.length - 1].textContent);
                }).observe(list, {childList: true, subtree: true, characterData: true});
            }"""
        )
        page.get_by_test_id("chat-send").click()
        agent = detail.get_by_test_id("chat-agent-message").last
        expect(agent).to_have_attribute("data-streaming", "false", timeout=30_000)
        expect(detail.get_by_test_id("chat-stream-error")).to_have_count(0)
        expect(detail.get_by_test_id("chat-system-message")).to_have_count(1)
        user_bubble = detail.get_by_test_id("chat-user-message")
        expect(user_bubble).to_have_text(QUESTION)  # shown as text, not parsed as markup
        expect(user_bubble.locator("img")).to_have_count(0)
        assert page.evaluate("window.__xss") is None
        final = agent.inner_text()
        assert final.strip()
        states = [s for s in page.evaluate("window.__agentTexts") if s]
        partial = [s for s in states if s != final]
        assert partial, f"the answer never showed a partial state: {states!r}"
        assert all(final.startswith(s) for s in partial), states
        sessions = json.loads(page.evaluate(f"localStorage.getItem({CHAT_SESSIONS_KEY!r})"))
        messages = api.get(f"/api/chat/sessions/{sessions[insight_id]}/messages").json()
        assert [m["sender"] for m in messages] == ["system", "user", "agent"]
        assert messages[-1]["content"] == agent.text_content()
        expect(agent).to_have_attribute("data-message-id", messages[-1]["message_id"])

        # English: labels change, the conversation stays.
        page.get_by_test_id("lang-switch").select_option("en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_test_id("tab-reports")).to_have_text("Reports")
        expect(detail.get_by_test_id("chat-panel").locator("h3")).to_have_text("Ask the teacher")
        expect(detail.get_by_test_id("chat-agent-message").last).to_have_text(final)

        ARTIFACTS.mkdir(exist_ok=True)
        detail.get_by_test_id("chat-form").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser-chat.png"))
        assert errors == []


def test_api_key_mode_asks_for_a_key(seeded_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    from stockteacher.api.auth import create_user

    settings = seeded_settings(auth_mode="api_key")
    _, key = create_user(settings, "alice")
    with _serve(settings) as base, _browser_page() as (page, errors):
        page.goto(base + "/")
        expect(page.get_by_test_id("auth-panel")).to_be_visible()
        expect(page.get_by_test_id("report-row")).to_have_count(0)
        expect(page.get_by_test_id("auth-message")).to_be_hidden()

        # A wrong key is answered 401: the form comes back with a message, and the key is forgotten.
        page.get_by_test_id("api-key-input").fill("stk_000000000000_wrong")
        page.get_by_test_id("api-key-submit").click()
        expect(page.get_by_test_id("auth-message")).to_have_text("API 키가 거부되었습니다. 다시 입력하세요.")
        expect(page.get_by_test_id("auth-panel")).to_be_visible()
        expect(page.get_by_test_id("view-reports")).to_be_hidden()
        assert page.evaluate("localStorage.getItem('stockteacher.apiKey')") is None
        _take_expected_failure(errors, 401)

        page.get_by_test_id("api-key-input").fill(key)
        page.get_by_test_id("api-key-submit").click()
        expect(page.get_by_test_id("report-row")).to_have_count(len(SEED_TICKERS))
        expect(page.get_by_test_id("auth-panel")).to_be_hidden()
        assert page.evaluate("localStorage.getItem('stockteacher.apiKey')") == key
        page.reload()  # the stored key is used at once
        expect(page.get_by_test_id("report-row")).to_have_count(len(SEED_TICKERS))
        expect(page.get_by_test_id("auth-panel")).to_be_hidden()
        assert errors == []


def test_chat_stream_error_is_shown(seeded_settings: Callable[..., Settings]) -> None:
    """An `error` event after a partial answer: the partial text stays and the reason is shown.

    The stream is canned (CRLF line ends and a keep-alive comment, as sse-starlette writes
    them) so that the page's SSE parser meets the awkward cases whatever the engine answers.
    """
    from playwright.sync_api import Route, expect

    stream = (
        ": ping\r\n\r\n"
        'event: chunk\r\ndata: {"content": "부분 "}\r\n\r\n'
        'event: chunk\r\ndata: {"content": "답변"}\r\n\r\n'
        'event: error\r\ndata: {"code": "cost_limit", "detail": "daily chat budget reached", "trace_id": "t-123"}\r\n\r\n'
    )

    def answer(route: Route) -> None:
        if route.request.method == "POST":
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream; charset=utf-8"}, body=stream)
        else:
            route.continue_()

    settings = seeded_settings()
    with _serve(settings) as base, _browser_page() as (page, errors):
        page.route("**/api/chat/sessions/*/messages", answer)
        page.goto(base + "/")
        page.get_by_test_id("report-open").first.click()
        detail = page.get_by_test_id("report-detail")
        detail.get_by_test_id("chat-input").fill("why?")
        detail.get_by_test_id("chat-input").press("Enter")
        agent = detail.get_by_test_id("chat-agent-message").last
        expect(agent).to_have_attribute("data-streaming", "false")
        expect(agent).to_have_text("부분 답변")
        failure = detail.get_by_test_id("chat-stream-error")
        expect(failure).to_contain_text("daily chat budget reached")
        expect(failure).to_contain_text("t-123")
        expect(detail.get_by_test_id("chat-send")).to_be_enabled()
        assert errors == []

"""The web page in a real browser: Debian chromium driven by Playwright against the real app.

The app (`create_app`) runs under uvicorn in a background thread on 127.0.0.1, over a SQLite
database seeded by the sample pipeline (collect → offline analysis → publish). Chat uses the
offline engine, since no OpenAI key is set. Webhook channels are verified against a local
receiver (`tests.servers.webhook`); no SMTP server is configured. The tests fail on any browser
console error.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from stockteacher.settings import Settings
from tests.factories.browser import (
    ARTIFACTS,
    browser_page,
    require_chromium,
    serve,
    take_expected_failure,
)

SEED_TICKERS = ("AAPL", "MSFT")
CHAT_SESSIONS_KEY = "stockteacher.chatSessions"
QUESTION = '이 뉴스가 주가에 어떤 의미가 있나요? <img src=x onerror="window.__xss=1">'
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"browser-test-webhook-secret-32b!").decode()  # Standard Webhooks
CHAT_COST_USD = 0.0123

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    require_chromium()


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


def _add_chat_spend(settings: Settings, ticker: str, cost_usd: float) -> None:
    """One answered chat turn on `ticker`'s report that cost `cost_usd` (as an OpenAI answer would)."""
    from sqlalchemy import select

    from stockteacher.store.db import session_scope
    from stockteacher.store.models import ChatMessage, ChatSession, Report, utcnow

    with session_scope(settings.dsn) as session:
        insight_id = session.execute(select(Report.insight_id).where(Report.ticker == ticker)).scalar_one()
        session_id = f"chs_{uuid.uuid4().hex[:12]}"
        session.add(ChatSession(session_id=session_id, user_id="demo-user", insight_id=insight_id, status="Conversing"))
        session.flush()
        for sender, content, cost in (("user", "why?", 0.0), ("agent", "because.", cost_usd)):
            session.add(
                ChatMessage(
                    message_id=f"msg_{uuid.uuid4().hex[:12]}",
                    session_id=session_id,
                    user_id="demo-user",
                    sender=sender,
                    content=content,
                    citations=[],
                    model="gpt-4o-mini" if sender == "agent" else None,
                    prompt_tokens=900 if sender == "agent" else 0,
                    completion_tokens=120 if sender == "agent" else 0,
                    cost_usd=cost,
                    created_at=utcnow(),
                )
            )
            session.flush()


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
    with serve(settings) as base, browser_page() as (page, errors), httpx.Client(base_url=base) as api:
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
        expect(sub_rows.first.get_by_test_id("subscription-status")).to_have_text("알림 채널 인증 대기")
        expect(page.get_by_test_id("subs-pending-hint")).to_be_visible()
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
        take_expected_failure(errors, 409)

        # Notification policy: the API's 422 reason is shown; a valid policy is saved.
        page.get_by_test_id("tab-notifications").click()
        expect(page.get_by_test_id("policy-timezone")).to_have_value("Asia/Seoul")
        page.get_by_test_id("policy-timezone").select_option("America/New_York")
        page.get_by_test_id("policy-window").select_option("immediate")
        page.get_by_test_id("policy-frequency").select_option("weekly")
        # No channel ticked by default: every verified channel, as the hint under them says.
        expect(page.get_by_test_id("policy-channel-email")).not_to_be_checked()
        expect(page.get_by_text("아무것도 고르지 않으면 인증된 모든 채널로 알림을 보냅니다.")).to_be_visible()
        expect(page.get_by_test_id("policy-channel-web-push")).to_have_count(0)  # removed from the product
        expect(page.locator("#policy-channel-boxes")).to_contain_text("채팅 앱")
        page.get_by_test_id("policy-channel-apprise").check()
        expect(page.get_by_test_id("policy-locale")).to_have_value("ko_KR")
        page.get_by_test_id("policy-locale").select_option("en_US")  # alerts in English
        page.get_by_test_id("policy-quiet-start").fill("08:00")
        page.get_by_test_id("policy-save").click()
        message = page.get_by_test_id("policy-message")
        expect(message).to_have_class("message error")
        expect(message).to_contain_text("quiet_hours")
        take_expected_failure(errors, 422)
        page.get_by_test_id("policy-quiet-end").fill("09:30")
        page.get_by_test_id("policy-save").click()
        expect(message).to_have_text("알림 설정을 저장했습니다.")
        policy = api.get("/api/notifications/policy").json()
        fields = ("timezone", "window", "frequency", "quiet_hours_start", "quiet_hours_end", "locale")
        assert {k: policy[k] for k in fields} == {
            "locale": "en_US",
            "timezone": "America/New_York",
            "window": "immediate",
            "frequency": "weekly",
            "quiet_hours_start": "08:00",
            "quiet_hours_end": "09:30",
        }
        assert policy["channels"] == ["apprise"]

        # Report detail: sources open in a new tab without an opener; the chart is drawn.
        page.get_by_test_id("tab-reports").click()
        row = rows.filter(has_text="AAPL")
        headline = row.get_by_test_id("report-headline").inner_text()
        row.get_by_test_id("report-open").click()
        detail = page.get_by_test_id("report-detail")
        expect(detail).to_be_visible()
        expect(detail.get_by_test_id("detail-headline")).to_have_text(headline)
        expect(detail.get_by_test_id("detail-summary")).not_to_be_empty()
        expect(detail.get_by_test_id("detail-model")).to_have_text("오프라인 분석")
        expect(detail.get_by_test_id("detail-cost")).to_have_text("$0")
        # Tags are words, not the labels the analysis stores ("offline-analysis", "mna").
        expect(detail.get_by_test_id("tag-list")).to_contain_text("오프라인 분석")
        expect(detail.get_by_test_id("tag-list")).not_to_contain_text("offline-analysis")
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

    from stockteacher.accounts.service import create_user

    settings = seeded_settings(auth_mode="api_key")
    _, key = create_user(settings, "alice")
    with serve(settings) as base, browser_page() as (page, errors):
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
        take_expected_failure(errors, 401)

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
    with serve(settings) as base, browser_page() as (page, errors):
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


def test_usage_and_notification_channels(seeded_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    from tests.servers.webhook import WebhookReceiver

    settings = seeded_settings()
    _add_chat_spend(settings, "AAPL", CHAT_COST_USD)
    with (
        WebhookReceiver(secret=WEBHOOK_SECRET) as hook,
        serve(settings) as base,
        browser_page() as (page, errors),
        httpx.Client(base_url=base) as api,
    ):
        assert api.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "daily_close"}).status_code == 201
        page.goto(base + "/")
        expect(page.get_by_test_id("report-row")).to_have_count(len(SEED_TICKERS))

        # Usage: demo-user is an admin, so the scope is everything; the one paid answer is today's.
        page.get_by_test_id("usage-tab").click()
        expect(page.get_by_test_id("usage-total")).to_have_text("$0.0123")
        expect(page.get_by_test_id("usage-scope")).to_have_attribute("data-scope", "all")
        expect(page.get_by_test_id("usage-scope")).to_contain_text("전체 사용량 (관리자)")
        expect(page.get_by_test_id("usage-chat-today")).to_have_text("$0.0123 / 일일 예산 $0.50")
        expect(page.get_by_test_id("usage-budget-bar")).to_have_attribute("aria-valuenow", "2")
        chart = page.get_by_test_id("usage-chart")
        expect(chart).to_be_visible()
        expect(chart).to_have_attribute("data-days", "30")
        bar = chart.get_by_test_id("usage-bar")
        expect(bar).to_have_count(1)
        expect(bar).to_have_attribute("data-stage", "chat")
        expect(bar.locator("title")).to_contain_text("$0.0123")
        usage_rows = page.get_by_test_id("usage-row")
        expect(usage_rows).to_have_count(1)
        expect(usage_rows.first).to_have_attribute("data-ticker", "AAPL")
        expect(usage_rows.first.get_by_test_id("usage-row-cost")).to_have_text("$0.0123")
        expect(usage_rows.first).to_contain_text("900")
        # A period without usage shows the empty state instead of a chart.
        page.get_by_test_id("usage-date-from").fill("2020-01-01")
        page.get_by_test_id("usage-date-to").fill("2020-01-31")
        page.get_by_test_id("usage-apply").click()
        expect(page.get_by_test_id("usage-empty")).to_be_visible()
        expect(page.get_by_test_id("usage-total")).to_have_text("$0")
        expect(page.get_by_test_id("usage-chart")).to_have_count(0)
        expect(usage_rows).to_have_count(0)

        # The subscription waits for a verified channel; the hint leads to the channels.
        page.get_by_test_id("tab-subscriptions").click()
        status = page.get_by_test_id("subscription-status")
        expect(status).to_have_attribute("data-status", "PendingVerification")
        page.get_by_test_id("subs-pending-link").click()
        expect(page.get_by_test_id("view-notifications")).to_be_visible()
        expect(page.get_by_test_id("channels-empty")).to_be_visible()

        # A webhook without a secret: one is made and shown once, but the receiver knows another
        # secret and answers 401, so the channel stays pending with the reason.
        channel_rows = page.get_by_test_id("channel-row")
        webhook_row = page.locator('[data-testid="channel-row"][data-channel="webhook"]')
        message = page.get_by_test_id("channel-message")
        page.get_by_test_id("webhook-url").fill(hook.url)
        page.get_by_test_id("webhook-submit").click()
        expect(webhook_row.get_by_test_id("channel-status")).to_have_attribute("data-status", "pending")
        expect(webhook_row.get_by_test_id("channel-error")).to_have_text(
            "받는 쪽이 서명을 거부했습니다. 받는 쪽이 이 비밀 키를 쓰는지 확인해 주세요."
        )  # the reason in the reader's language, from its code
        expect(message).to_have_class("message error")
        expect(page.get_by_test_id("webhook-secret-box")).to_be_visible()
        made_secret = page.get_by_test_id("webhook-secret-value").inner_text()
        assert made_secret.startswith("whsec_") and made_secret != WEBHOOK_SECRET
        assert [r.signature_valid for r in hook.requests] == [False]

        # The API's 422 reason is shown as it is: not an http(s) URL, a secret not in whsec_ form.
        page.get_by_test_id("webhook-url").fill("ftp://127.0.0.1/hook")
        page.get_by_test_id("webhook-submit").click()
        expect(message).to_contain_text("must be an http(s) URL")
        take_expected_failure(errors, 422)
        expect(page.get_by_test_id("webhook-secret")).to_have_attribute("placeholder", "whsec_…")
        page.get_by_test_id("webhook-url").fill(hook.url)
        page.get_by_test_id("webhook-secret").fill("browser-test-webhook-secret")
        page.get_by_test_id("webhook-submit").click()
        expect(message).to_contain_text("secret")
        expect(message).to_have_class("message error")
        take_expected_failure(errors, 422)
        assert len(hook.requests) == 1  # refused before any ping

        # With the receiver's secret the signed ping is accepted: verified, no secret to show.
        page.get_by_test_id("webhook-url").fill(hook.url)
        page.get_by_test_id("webhook-secret").fill(WEBHOOK_SECRET)
        page.get_by_test_id("webhook-submit").click()
        expect(webhook_row.get_by_test_id("channel-status")).to_have_attribute("data-status", "verified")
        expect(webhook_row.get_by_test_id("channel-status")).to_have_text("인증됨")
        expect(webhook_row.get_by_test_id("channel-error")).to_have_count(0)
        expect(message).to_have_text("웹훅을 인증했습니다.")
        expect(page.get_by_test_id("webhook-secret-box")).to_be_hidden()
        assert [r.signature_valid for r in hook.requests] == [False, True]
        assert hook.requests[-1].json()["type"] == "verification"

        # E-mail with no SMTP server: saved as pending, and the reason the mail did not go is shown.
        page.get_by_test_id("email-address").fill("learner@example.com")
        page.get_by_test_id("email-submit").click()
        email_row = page.locator('[data-testid="channel-row"][data-channel="email"]')
        expect(email_row.get_by_test_id("channel-status")).to_have_attribute("data-status", "pending")
        expect(email_row.get_by_test_id("channel-error")).to_contain_text("메일 서버가 설정되지 않아")
        expect(email_row.get_by_test_id("channel-error")).to_contain_text("SMTP_HOST")
        expect(message).to_contain_text("메일 서버가 설정되지 않아")
        expect(message).not_to_contain_text("not configured")
        expect(channel_rows).to_have_count(2)
        stored = {c["channel"]: c for c in api.get("/api/notifications/channels").json()}
        assert {k: c["status"] for k, c in stored.items()} == {"webhook": "verified", "email": "pending"}
        assert stored["email"]["address"] == "learner@example.com"
        masked = stored["webhook"]["address"]  # the URL may hold a token: shown masked
        assert masked != hook.url and masked.startswith(f"http://127.0.0.1:{hook.port}/") and "…" in masked
        expect(webhook_row.get_by_test_id("channel-address")).to_have_text(masked)
        assert all(c["secret"] is None for c in stored.values())

        # Removing the e-mail channel; the verified webhook made the subscription Active.
        email_row.get_by_test_id("channel-remove").click()
        expect(channel_rows).to_have_count(1)
        expect(message).to_have_text("이메일 채널을 삭제했습니다.")
        assert [c["channel"] for c in api.get("/api/notifications/channels").json()] == ["webhook"]
        page.get_by_test_id("tab-subscriptions").click()
        expect(status).to_have_attribute("data-status", "Active")
        expect(page.get_by_test_id("subs-pending-hint")).to_be_hidden()

        # English labels for the new parts.
        page.get_by_test_id("lang-switch").select_option("en")
        expect(status).to_have_text("Active")
        page.get_by_test_id("usage-tab").click()
        expect(page.get_by_test_id("usage-scope")).to_contain_text("All usage (admin)")

        # The message shown before the switch is shown again in English, not left in Korean.
        page.get_by_test_id("tab-notifications").click()
        expect(message).to_have_text("Removed the Email channel.")
        expect(webhook_row.get_by_test_id("channel-status")).to_have_text("Verified")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-channels.png"), full_page=True)
        assert errors == []


def test_the_choices_come_from_the_api_config(seeded_settings: Callable[..., Settings]) -> None:
    """The page keeps no copy of the vocabulary: change it in `/api/config` and the page follows."""
    from playwright.sync_api import Route, expect

    settings = seeded_settings()
    with serve(settings) as base, browser_page() as (page, errors), httpx.Client(base_url=base) as api:
        config = api.get("/api/config").json()
        vocabulary = config["vocabulary"]
        vocabulary["sentiment_band"] = 1.0  # every score is inside it: every badge says neutral
        vocabulary["channels"] = list(reversed(vocabulary["channels"]))
        vocabulary["alert_windows"] = ["weekly", "intraday"]
        vocabulary["policy_windows"] = ["immediate"]

        def answer(route: Route) -> None:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(config))

        page.route("**/api/config", answer)
        page.goto(base + "/")
        badges = page.get_by_test_id("report-row").get_by_test_id("sentiment-badge")
        expect(badges).to_have_count(len(SEED_TICKERS))
        for badge in badges.all():
            expect(badge).to_have_attribute("data-sentiment", "neutral")

        page.get_by_test_id("tab-subscriptions").click()
        windows = page.get_by_test_id("subscribe-window").locator("option")
        expect(windows).to_have_count(2)
        assert [o.get_attribute("value") for o in windows.all()] == ["weekly", "intraday"]

        page.get_by_test_id("tab-notifications").click()
        boxes = page.locator('#policy-form input[name="channels"]')
        expect(boxes).to_have_count(len(vocabulary["channels"]))
        assert [b.get_attribute("value") for b in boxes.all()] == vocabulary["channels"]
        expect(page.get_by_test_id("policy-window").locator("option")).to_have_count(1)
        assert errors == []


def test_subscribing_by_a_company_name_with_suggestions(make_settings: Callable[..., Settings]) -> None:
    """A Korean beginner types a company's name: the box suggests tickers, an exact name
    subscribes, an ambiguous one offers its candidates."""
    from playwright.sync_api import expect

    from stockteacher.store import migrate

    settings = make_settings()
    migrate.upgrade(settings.dsn)
    with serve(settings) as base, browser_page() as (page, errors), httpx.Client(base_url=base) as api:
        page.goto(base + "/")
        page.get_by_test_id("tab-subscriptions").click()
        box = page.get_by_test_id("subscribe-ticker")
        expect(box).to_have_attribute("placeholder", "예: 삼성전자, AAPL, 005930")
        expect(page.locator("label[for=subscribe-ticker]")).to_have_text("종목 (코드 또는 회사 이름)")

        # Suggestions as one types, best first, names in Korean; arrows and Enter pick one.
        box.press_sequentially("삼성")
        suggestions = page.get_by_test_id("ticker-suggestion")
        expect(suggestions.first).to_have_attribute("data-ticker", "005930.KS")
        expect(suggestions.first).to_contain_text("삼성전자")
        expect(suggestions.first).to_contain_text("KOSPI")
        assert suggestions.count() == 8
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "subscribe-suggestions.png"))
        box.press("ArrowDown")
        box.press("Enter")
        expect(box).to_have_value("005930.KS")
        expect(page.get_by_test_id("ticker-suggestions")).to_be_hidden()
        page.get_by_test_id("subscribe-submit").click()
        rows = page.get_by_test_id("subscription-row")
        expect(rows).to_have_count(1)
        expect(rows.first.get_by_test_id("subscription-ticker")).to_have_text("005930.KS")

        # A name of one ticker, typed whole and sent without picking: the server resolves it.
        box.fill("애플")
        page.get_by_test_id("subscribe-submit").click()
        expect(rows).to_have_count(2)
        expect(rows.nth(1).get_by_test_id("subscription-ticker")).to_have_text("AAPL")

        # A name of two tickers: the candidates, and a click subscribes to the one picked.
        box.fill("구글")
        page.get_by_test_id("subscribe-submit").click()
        message = page.get_by_test_id("subs-message")
        expect(message).to_have_text("‘구글’에 해당하는 종목이 여러 개입니다. 아래에서 하나를 고르세요.")
        candidates = page.get_by_test_id("subs-candidate")
        expect(candidates).to_have_count(2)
        expect(candidates.first).to_contain_text("알파벳")
        page.screenshot(path=str(ARTIFACTS / "subscribe-candidates.png"))
        take_expected_failure(errors, 409)
        page.locator('[data-testid=subs-candidate][data-ticker="GOOG"]').click()
        expect(rows).to_have_count(3)
        expect(page.get_by_test_id("subs-candidates")).to_be_hidden()
        expect(message).to_have_text("GOOG 구독을 추가했습니다.")
        stored = sorted(s["ticker"] for s in api.get("/api/subscriptions").json())
        assert stored == ["005930.KS", "AAPL", "GOOG"]

        # Nothing we know: the server's reason, no candidates.
        box.fill("존재하지않는회사")
        page.get_by_test_id("subscribe-submit").click()
        expect(message).to_contain_text("/api/tickers?q=")
        take_expected_failure(errors, 404)
        expect(page.get_by_test_id("subs-candidates")).to_be_hidden()
        assert errors == []

"""The notification gateway's page in a real browser (Debian chromium, Playwright, the real app):
a chat app set through Apprise against the local ntfy stand-in and verified by the code it
received, the webhook's secret rotated against the local receiver, the feed links and the
private feed card. Screenshots (Korean, desktop and a 390px phone) go to `test-artifacts/`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

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

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"channels-browser-test-secret-32b").decode()
PHONE = {"width": 390, "height": 844}
RAW_KEYS = (
    "apprise_not_sent",
    "wrong_code",
    "code_expired",
    "too_many_attempts",
    "channel.apprise",
    "channels.",
    "feeds.",
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    require_chromium()


@pytest.fixture
def app_settings(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Settings]]:
    """Migrated settings whose channels may reach 127.0.0.1 (the stand-ins listen there)."""
    from stockteacher.store import migrate

    def factory(**overrides: Any) -> Settings:
        settings = make_settings(webhook_allow_private_hosts=True, **overrides)
        migrate.upgrade(settings.dsn)
        return settings

    yield factory


def _no_raw_keys(text: str) -> None:
    """What a Korean beginner reads has no translation keys or API reason codes in it."""
    for key in RAW_KEYS:
        assert key not in text, (key, text)


def _code(text: str) -> str:
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    return match.group(1)


def _shoot(page: Any, name: str, locator: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    locator.screenshot(path=str(ARTIFACTS / name))


def test_a_chat_app_through_apprise_is_verified_by_the_code_it_received(app_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    from tests.servers.ntfy import NtfyServer

    settings = app_settings()
    with (
        NtfyServer() as ntfy,
        serve(settings) as base,
        browser_page() as (page, errors),
        httpx.Client(base_url=base) as api,
    ):
        services = api.get("/api/config").json()["apprise_services"]
        page.goto(base + "/")
        page.get_by_test_id("tab-notifications").click()
        card = page.get_by_test_id("channels")
        expect(page.get_by_test_id("channels-empty")).to_be_visible()

        # The picker lists the server's services, Korean names where they have one.
        options = page.get_by_test_id("apprise-service").locator("option")
        expect(options).to_have_count(len(services))
        assert [o.get_attribute("value") for o in options.all()] == [s["id"] for s in services]
        expect(options.first).to_have_text("텔레그램 (Telegram)")
        hint = page.get_by_test_id("apprise-hint")
        expect(hint).to_contain_text("@BotFather")
        expect(page.get_by_test_id("apprise-docs")).to_have_text("텔레그램 (Telegram) 설정 방법 (영어)")
        _shoot(page, "channels-apprise-ko.png", card)

        # ntfy: its hint, its URL's shape as the placeholder, its example, its set-up page.
        ntfy_service = next(s for s in services if s["id"] == "ntfy")
        page.get_by_test_id("apprise-service").select_option("ntfy")
        expect(hint).to_contain_text("주제")
        expect(page.get_by_test_id("apprise-url")).to_have_attribute("placeholder", ntfy_service["form"])
        expect(page.get_by_test_id("apprise-example")).to_have_text(ntfy_service["example"])
        expect(page.get_by_test_id("apprise-form-shape")).to_have_text(ntfy_service["form"])
        expect(page.get_by_test_id("apprise-docs")).to_have_attribute("href", ntfy_service["docs"])

        # An address Apprise cannot use: the server's reason after a sentence in Korean.
        message = page.get_by_test_id("channel-message")
        page.get_by_test_id("apprise-url").fill("nosuchservice://token/chat")
        page.get_by_test_id("apprise-submit").click()
        expect(message).to_have_class("message error")
        expect(message).to_contain_text("이 주소는 쓸 수 없습니다. 서버의 설명:")
        take_expected_failure(errors, 422)

        # The stand-in refuses the code's message: saved, pending, and why, in Korean.
        url = ntfy.url("stock-alerts-7f3k")
        ntfy.fail_next(1, status=400, body={"code": 40009, "http": 400, "error": "invalid request"})
        page.get_by_test_id("apprise-url").fill(url)
        page.get_by_test_id("apprise-submit").click()
        row = page.locator('[data-testid="channel-row"][data-channel="apprise"]')
        expect(row.get_by_test_id("channel-status")).to_have_attribute("data-status", "pending")
        expect(row.get_by_test_id("channel-error")).to_have_text(
            "이 채팅으로 코드를 보내지 못했습니다. 주소에 든 토큰과 채팅 ID를 확인하고 다시 등록해 주세요."
        )
        expect(message).to_contain_text("코드를 보내지 못했습니다")
        expect(page.get_by_test_id("apprise-verify")).to_be_hidden()
        _no_raw_keys(card.inner_text())
        assert ntfy.messages == []

        # Sent again: the code box; a wrong code says how many tries are left.
        page.get_by_test_id("apprise-submit").click()
        verify = page.get_by_test_id("apprise-verify")
        expect(verify).to_be_visible()
        expect(page.get_by_test_id("apprise-code-sent")).to_contain_text("이 채팅으로 6자리 코드를 보냈습니다")
        expect(row.get_by_test_id("channel-error")).to_have_count(0)
        assert len(ntfy.messages) == 1
        code = _code(ntfy.messages[-1].text)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        page.get_by_test_id("apprise-code").fill(wrong)
        page.get_by_test_id("apprise-confirm").click()
        verify_message = page.get_by_test_id("apprise-verify-message")
        expect(verify_message).to_have_text("코드가 맞지 않습니다. 4번 더 입력할 수 있습니다.")
        expect(verify_message).to_have_class("message error")
        take_expected_failure(errors, 422)
        _shoot(page, "channels-apprise-code-ko.png", card)

        # Every try used: register again, and the button says so until then.
        for left in (3, 2, 1, 0):
            page.get_by_test_id("apprise-code").fill(wrong)
            page.get_by_test_id("apprise-confirm").click()
            if left:
                expect(verify_message).to_have_text(f"코드가 맞지 않습니다. {left}번 더 입력할 수 있습니다.")
            else:
                expect(verify_message).to_contain_text("입력 기회를 다 썼으니 다시 등록해 주세요")
            take_expected_failure(errors, 422)
        expect(page.get_by_test_id("apprise-confirm")).to_be_disabled()
        page.get_by_test_id("apprise-submit").click()  # the URL is still in its box
        expect(page.get_by_test_id("apprise-confirm")).to_be_enabled()
        expect(verify_message).to_be_hidden()
        assert len(ntfy.messages) == 2

        # The right code: verified, the address masked, the code box gone.
        page.get_by_test_id("apprise-code").fill(_code(ntfy.messages[-1].text))
        page.get_by_test_id("apprise-confirm").click()
        expect(row.get_by_test_id("channel-status")).to_have_attribute("data-status", "verified")
        expect(row.get_by_test_id("channel-status")).to_have_text("인증됨")
        expect(row.locator(".channel-name")).to_have_text("채팅 앱")
        expect(message).to_have_text("채팅 앱을 인증했습니다. 이제 이 채팅으로 알림을 보내 드립니다.")
        expect(verify).to_be_hidden()
        expect(page.get_by_test_id("apprise-url")).to_have_value("")
        stored = api.get("/api/notifications/channels").json()
        assert [(c["channel"], c["status"]) for c in stored] == [("apprise", "verified")]
        expect(row.get_by_test_id("channel-address")).to_have_text(stored[0]["address"])
        _no_raw_keys(card.inner_text())
        _shoot(page, "channels-verified-ko.png", card)

        # The policy offers the chat apps by name.
        expect(page.get_by_test_id("policy-channel-apprise")).to_be_visible()
        expect(page.locator("#policy-channel-boxes")).to_contain_text("채팅 앱")

        # A phone: nothing wider than the screen.
        page.set_viewport_size(PHONE)
        page.get_by_test_id("apprise-service").select_option("kakaotalk")
        expect(hint).to_contain_text("Kakao Developers")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, overflow
        _shoot(page, "channels-phone-ko.png", card)

        # English, and removal.
        page.get_by_test_id("lang-switch").select_option("en")
        expect(row.locator(".channel-name")).to_have_text("Chat apps")
        expect(page.get_by_test_id("apprise-submit")).to_have_text("Send a code")
        row.get_by_test_id("channel-remove").click()
        expect(page.get_by_test_id("channels-empty")).to_be_visible()
        expect(message).to_have_text("Removed the Chat apps channel.")
        assert api.get("/api/notifications/channels").json() == []
        assert errors == []


def test_the_webhook_secret_is_rotated_from_the_page(app_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    from tests.servers.webhook import WebhookReceiver

    settings = app_settings()
    with (
        WebhookReceiver(secret=WEBHOOK_SECRET) as hook,
        serve(settings) as base,
        browser_page() as (page, errors),
        httpx.Client(base_url=base) as api,
    ):
        page.goto(base + "/")
        page.get_by_test_id("tab-notifications").click()
        page.get_by_test_id("webhook-url").fill(hook.url)
        page.get_by_test_id("webhook-secret").fill(WEBHOOK_SECRET)
        page.get_by_test_id("webhook-submit").click()
        row = page.locator('[data-testid="channel-row"][data-channel="webhook"]')
        expect(row.get_by_test_id("channel-status")).to_have_attribute("data-status", "verified")
        box = page.get_by_test_id("webhook-secret-box")
        expect(box).to_be_hidden()  # the secret was ours: nothing to show

        row.get_by_test_id("webhook-rotate").click()
        expect(box).to_be_visible()
        secret = page.get_by_test_id("webhook-secret-value").inner_text()
        assert secret.startswith("whsec_") and secret != WEBHOOK_SECRET
        assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
        expect(page.get_by_test_id("webhook-secret-note")).to_contain_text("새 서명 비밀 키입니다")
        overlap = page.get_by_test_id("webhook-secret-overlap")
        expect(overlap).to_be_visible()
        expect(overlap).to_contain_text("이전 비밀 키도")
        expect(overlap).to_contain_text("까지 함께 서명합니다")
        expect(row.get_by_test_id("channel-overlap")).to_contain_text("이전 비밀 키도")
        expect(row.get_by_test_id("channel-overlap")).to_contain_text("까지 함께 서명합니다.")
        expect(page.get_by_test_id("channel-message")).to_have_text("서명 비밀 키를 새로 만들었습니다.")
        (stored,) = api.get("/api/notifications/channels").json()
        assert stored["previous_secret_valid_until"] and stored["secret"] is None
        # The reader's own clock and language: the time in the line is the answer's, formatted here.
        shown = page.evaluate(
            """(iso) => new Intl.DateTimeFormat("ko-KR", {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso))""",
            stored["previous_secret_valid_until"],
        )
        expect(overlap).to_contain_text(shown)
        _no_raw_keys(page.get_by_test_id("channels").inner_text())
        _shoot(page, "channels-rotated-ko.png", page.get_by_test_id("channels"))

        page.get_by_test_id("webhook-secret-copy").click()  # copies, or selects it for copying by hand
        page.get_by_test_id("lang-switch").select_option("en")
        expect(overlap).to_contain_text("the old secret also signs until")
        expect(row.get_by_test_id("webhook-rotate")).to_have_text("New secret")
        assert errors == []


def test_feed_links_and_the_private_feed_card(app_settings: Callable[..., Settings]) -> None:
    from playwright.sync_api import expect

    from tests.factories.reports import run_sample_pipeline

    settings = app_settings()
    run_sample_pipeline(settings, ("AAPL",))
    with serve(settings) as base, browser_page() as (page, errors), httpx.Client(base_url=base) as api:
        assert api.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "daily_close"}).status_code == 201
        page.goto(base + "/")

        # The report's ticker: its three public feeds, said in Korean what they are for.
        page.get_by_test_id("report-open").first.click()
        links = page.get_by_test_id("feed-links")
        expect(links).to_be_visible()
        expect(links).to_have_attribute("title", "이 종목의 리포트를 피드 리더로 구독")
        expect(links).to_contain_text("RSS · Atom · JSON Feed")
        for fmt in ("rss", "atom", "json"):
            expect(links.get_by_test_id(f"feed-link-{fmt}")).to_have_attribute("href", f"/feeds/AAPL.{fmt}")
        _shoot(page, "feed-links-ko.png", page.get_by_test_id("report-detail").locator(".detail-header"))
        rss = api.get("/feeds/AAPL.rss")
        assert rss.status_code == 200 and "<rss" in rss.text

        page.get_by_test_id("tab-notifications").click()
        card = page.get_by_test_id("feed-card")
        status = page.get_by_test_id("feed-status")
        expect(status).to_have_text("아직 피드 주소를 만들지 않았습니다.")
        expect(page.get_by_test_id("feed-revoke")).to_be_hidden()
        page.get_by_test_id("feed-make").click()
        box = page.get_by_test_id("feed-urls-box")
        expect(box).to_be_visible()
        expect(page.get_by_test_id("feed-warning")).to_have_text(
            "이 주소를 아는 사람은 누구나 내 피드를 읽을 수 있습니다. 다른 사람에게 알려 주지 마세요."
        )
        urls = {fmt: page.get_by_test_id(f"feed-url-{fmt}").inner_text() for fmt in ("rss", "atom", "json")}
        assert all("/feeds/user/" in u and u.endswith(f".{fmt}") for fmt, u in urls.items()), urls
        expect(status).to_contain_text("에 만듦")
        expect(page.get_by_test_id("feed-make")).to_have_text("새 피드 주소 만들기")
        _no_raw_keys(card.inner_text())
        _shoot(page, "feed-card-ko.png", card)
        page.set_viewport_size(PHONE)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, overflow
        _shoot(page, "feed-card-phone-ko.png", card)
        page.set_viewport_size({"width": 1280, "height": 900})

        # The address works; it is not shown again once the tab is left.
        feed = api.get(urlsplit(urls["json"]).path)
        assert feed.status_code == 200 and "AAPL" in feed.text
        page.get_by_test_id("tab-reports").click()
        page.get_by_test_id("tab-notifications").click()
        expect(box).to_be_hidden()
        expect(status).to_contain_text("마지막으로 읽힌 때")
        assert api.get("/api/feeds/token").json()["active"] is True

        # Revoked: the address stops working.
        page.get_by_test_id("feed-revoke").click()
        expect(status).to_have_text("아직 피드 주소를 만들지 않았습니다.")
        expect(page.get_by_test_id("feed-message")).to_have_text(
            "피드 주소를 없앴습니다. 그 주소는 이제 열리지 않습니다."
        )
        assert api.get(urlsplit(urls["rss"]).path).status_code == 404
        assert api.get("/api/feeds/token").json()["active"] is False
        page.get_by_test_id("lang-switch").select_option("en")
        expect(card.locator("h2")).to_have_text("My feed address")
        expect(status).to_have_text("You have no feed address yet.")
        expect(page.get_by_test_id("feed-make")).to_have_text("Make a feed address")
        assert errors == []

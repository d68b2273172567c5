"""The HTTP contract of API.md, endpoint by endpoint (chat excepted: see `test_chat.py`).

Each test drives the real app (`create_app`) on the session's PostgreSQL database through
Starlette's TestClient and checks what a client relies on: status codes, field names, enum
values, ISO-8601 timestamps with a zone, and `{"detail": "..."}` errors. Report filters, paging
and ranking run over a small catalogue of reports inserted directly (`CATALOGUE`), whose dates,
sentiments, anomaly scores and keywords (Korean among them) sit on the documented boundaries.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from stockteacher.accounts.service import create_user, revoke_keys
from stockteacher.api.app import create_app
from stockteacher.api.auth import require_loopback_for_single_user
from stockteacher.settings import Settings, SettingsError
from stockteacher.store.db import session_scope
from stockteacher.store.models import ChatMessage, ChatSession, JobRun, User, utcnow
from tests.factories.api import ApiUsers, detail

# every test: a fresh reports cache, and a deadlock on its lock fails the test instead of hanging
pytestmark = pytest.mark.usefixtures("report_cache_guard")

ISO_WITH_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
SUBSCRIPTION_FIELDS = {"subscription_id", "user_id", "ticker", "alert_window", "status", "created_at", "updated_at"}
ALERT_WINDOWS = {"intraday", "daily_open", "daily_close", "weekly"}
SUBSCRIPTION_STATUSES = {"PendingVerification", "Active", "Suspended"}
SUMMARY_FIELDS = {"insight_id", "ticker", "published_at", "status", "sentiment_score", "headline", "tags", "favorite"}
DETAIL_FIELDS = SUMMARY_FIELDS | {"summary_text", "anomaly_score", "keywords", "source_refs", "attachments"}
OUR_DETAIL_FIELDS = {"glossary", "anomalies", "cost_usd", "model", "locale", "story_count"}
REPORT_STATUSES = {"draft", "published", "hidden"}
POLICY_FIELDS = {"user_id", "timezone", "window", "frequency", "channels", "quiet_hours_start", "quiet_hours_end"}
OUR_POLICY_FIELDS = {"locale"}  # the language of alerts and e-mails


def timestamp(value: Any) -> datetime:
    """An ISO-8601 timestamp that names its zone (`Z` or `±hh:mm`), parsed."""
    assert isinstance(value, str) and ISO_WITH_ZONE.match(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["insight_id"] for item in response.json()]


def error(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return detail(response)


# --- probes --------------------------------------------------------------------------------
def test_healthz_and_readyz_answer_without_a_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_config_needs_no_key(client: TestClient) -> None:
    response = client.get("/api/config")
    assert response.status_code == 200
    body = response.json()
    assert body["auth_mode"] == "api_key"
    assert body["default_locale"] in {"ko_KR", "en_US"}
    assert body["chat_mode"] in {"openai", "offline"}
    assert isinstance(body["version"], str) and body["version"]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_readyz_is_503_with_the_reason_when_the_database_does_not_answer(
    make_settings: Callable[..., Settings], closed_port: int
) -> None:
    dsn = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/stockteacher"
    with TestClient(create_app(make_settings(postgres_dsn=dsn, auth_mode="api_key"))) as down:
        assert down.get("/healthz").status_code == 200  # liveness does not depend on the database
        ready = down.get("/readyz")
        assert ready.status_code == 503
        assert "database" in ready.json()["reason"]
        # a route that needs the database says so as a 503 in the error shape, not as a 500
        listing = down.get("/api/reports", headers={"Authorization": "Bearer stk_0123_abcdef"})
        assert "database" in error(listing, 503)


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: TestClient, users: ApiUsers) -> None:
    error(client.get("/api/nothing-here", headers=users.alice), 404)
    error(client.put("/api/subscriptions", headers=users.alice, json={}), 405)


# --- authentication ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer stk_000000000000_not-a-real-key"},
        {"Authorization": "Bearer not-even-our-format"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "stk_000000000000_no-scheme"},
    ],
    ids=["missing", "wrong", "foreign-format", "empty-token", "scheme-only", "basic", "no-scheme"],
)
@pytest.mark.parametrize("path", ["/api/reports", "/api/subscriptions", "/api/notifications/policy", "/api/usage"])
def test_missing_wrong_or_malformed_key_is_401_with_a_challenge(
    client: TestClient, users: ApiUsers, headers: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=headers)
    error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_valid_key_works_and_the_scheme_is_case_insensitive(client: TestClient, users: ApiUsers) -> None:
    key = users.alice["Authorization"].removeprefix("Bearer ")
    for header in (f"Bearer {key}", f"bearer {key}", f"BEARER  {key} "):
        response = client.get("/api/notifications/policy", headers={"Authorization": header})
        assert response.status_code == 200, header
        assert response.json()["user_id"] == "alice"


def test_a_key_in_the_query_string_is_not_accepted_over_http(client: TestClient, users: ApiUsers) -> None:
    key = users.alice["Authorization"].removeprefix("Bearer ")
    error(client.get("/api/subscriptions", params={"access_token": key}), 401)


def test_revoked_keys_and_disabled_users_are_401(client: TestClient, users: ApiUsers, api_settings: Settings) -> None:
    assert client.get("/api/subscriptions", headers=users.alice).status_code == 200
    assert revoke_keys(api_settings, "alice") == 1
    revoked = client.get("/api/subscriptions", headers=users.alice)
    error(revoked, 401)
    assert revoked.headers["www-authenticate"] == "Bearer"

    with session_scope(api_settings.dsn) as session:
        session.execute(update(User).where(User.user_id == "bob").values(disabled_at=utcnow()))
    error(client.get("/api/subscriptions", headers=users.bob), 401)


@pytest.fixture
def single_user_settings(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    return make_settings(postgres_dsn=pg_dsn, auth_mode="single_user", analysis_provider="offline")


LOCAL = "http://127.0.0.1:8000"


def test_single_user_mode_needs_no_header_and_acts_as_demo_user(single_user_settings: Settings) -> None:
    with TestClient(create_app(single_user_settings), client=("127.0.0.1", 50000), base_url=LOCAL) as local:
        assert local.get("/api/config").json()["auth_mode"] == "single_user"
        assert local.get("/api/notifications/policy").json()["user_id"] == "demo-user"
        created = local.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "daily_close"})
        assert created.status_code == 201 and created.json()["user_id"] == "demo-user"
        assert local.get("/api/jobs").status_code == 200  # the person at the keyboard is the admin
        error(local.get("/api/subscriptions", headers={"Authorization": "Bearer stk_0_wrong"}), 401)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_single_user_mode_answers_loopback_clients(single_user_settings: Settings, host: str) -> None:
    with TestClient(create_app(single_user_settings), client=(host, 5000), base_url=LOCAL) as local:
        assert local.get("/api/notifications/policy").json()["user_id"] == "demo-user"


def test_single_user_mode_refuses_a_client_that_is_not_loopback(single_user_settings: Settings) -> None:
    app = create_app(single_user_settings)
    _, key = create_user(single_user_settings, "alice")
    with TestClient(app, client=("10.0.0.5", 1234), base_url=LOCAL) as remote:  # e.g. through a proxy
        error(remote.get("/api/subscriptions"), 401)
        assert remote.get("/healthz").status_code == 200
        # a real key still identifies its owner, wherever the request comes from
        keyed = remote.get("/api/notifications/policy", headers={"Authorization": f"Bearer {key}"})
        assert keyed.status_code == 200 and keyed.json()["user_id"] == "alice"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_single_user_mode_refuses_to_bind_beyond_loopback(make_settings: Callable[..., Settings], host: str) -> None:
    settings = make_settings(auth_mode="single_user", api_host=host)
    with pytest.raises(SettingsError, match="API_HOST"):
        require_loopback_for_single_user(settings)
    require_loopback_for_single_user(make_settings(auth_mode="api_key", api_host=host))  # keys: any host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_single_user_mode_binds_to_loopback(make_settings: Callable[..., Settings], host: str) -> None:
    require_loopback_for_single_user(make_settings(auth_mode="single_user", api_host=host))


# --- subscriptions -------------------------------------------------------------------------
def subscription(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == SUBSCRIPTION_FIELDS, body
    assert re.fullmatch(r"sub_[0-9a-z]{12}", body["subscription_id"]), body["subscription_id"]
    assert body["alert_window"] in ALERT_WINDOWS and body["status"] in SUBSCRIPTION_STATUSES
    assert timestamp(body["updated_at"]) >= timestamp(body["created_at"])
    return body


def subscribe(client: TestClient, headers: dict[str, str], ticker: str, window: str = "daily_close") -> dict[str, Any]:
    response = client.post("/api/subscriptions", headers=headers, json={"ticker": ticker, "alert_window": window})
    assert response.status_code == 201, response.text
    return subscription(response.json())


@pytest.mark.parametrize(
    ("given", "stored"),
    [("aapl", "AAPL"), (" tsla ", "TSLA"), ("brk.b", "BRK.B"), ("005930", "005930.KS"), ("247540", "247540.KQ")],
)
def test_create_subscription_normalises_the_ticker(
    client: TestClient, users: ApiUsers, given: str, stored: str
) -> None:
    body = subscribe(client, users.alice, given, "weekly")
    assert body["ticker"] == stored and body["user_id"] == "alice" and body["alert_window"] == "weekly"


@pytest.mark.parametrize(
    "payload",
    [
        {"ticker": "AAPL", "alert_window": "hourly"},
        {"ticker": "AAPL", "alert_window": "DAILY_CLOSE"},
        {"ticker": "AA PL", "alert_window": "daily_close"},
        {"ticker": "$AAPL", "alert_window": "daily_close"},
        {"ticker": "", "alert_window": "daily_close"},
        {"ticker": "A" * 16, "alert_window": "daily_close"},
        {"ticker": 5930, "alert_window": "daily_close"},
        {"ticker": "AAPL", "alert_window": "daily_close", "status": "Active"},
        {"alert_window": "daily_close"},
        None,
    ],
    ids=[
        "unknown-window",
        "window-case",
        "space",
        "cashtag",
        "empty",
        "too-long",
        "number",
        "extra-field",
        "no-ticker",
        "no-body",
    ],  # fmt: skip
)
def test_create_subscription_rejects_bad_bodies_with_422(
    client: TestClient, users: ApiUsers, payload: dict[str, Any] | None
) -> None:
    error(client.post("/api/subscriptions", headers=users.alice, json=payload), 422)
    assert client.get("/api/subscriptions", headers=users.alice).json() == []


def test_subscribing_twice_to_the_same_ticker_is_409(client: TestClient, users: ApiUsers) -> None:
    subscribe(client, users.alice, "AAPL")
    for again in ("AAPL", "aapl"):
        response = client.post(
            "/api/subscriptions", headers=users.alice, json={"ticker": again, "alert_window": "weekly"}
        )
        assert "AAPL" in error(response, 409)
    subscribe(client, users.alice, "005930")
    duplicate = client.post("/api/subscriptions", headers=users.alice, json={"ticker": "005930.ks"})
    error(duplicate, 409)
    subscribe(client, users.bob, "AAPL")  # another user's subscription is no duplicate


def test_list_subscriptions_shows_only_your_own(client: TestClient, users: ApiUsers) -> None:
    mine = [subscribe(client, users.alice, t) for t in ("AAPL", "TSLA")]
    subscribe(client, users.bob, "MSFT")
    listing = client.get("/api/subscriptions", headers=users.alice)
    assert listing.status_code == 200
    body = [subscription(item) for item in listing.json()]
    assert [s["subscription_id"] for s in body] == [s["subscription_id"] for s in mine]
    assert {s["user_id"] for s in body} == {"alice"}


def test_patch_subscription_changes_the_window(client: TestClient, users: ApiUsers) -> None:
    created = subscribe(client, users.alice, "AAPL", "intraday")
    url = f"/api/subscriptions/{created['subscription_id']}"
    patched = client.patch(url, headers=users.alice, json={"alert_window": "weekly"})
    assert patched.status_code == 200
    body = subscription(patched.json())
    assert body["alert_window"] == "weekly" and body["ticker"] == "AAPL"
    assert body["created_at"] == created["created_at"]
    assert timestamp(body["updated_at"]) >= timestamp(created["updated_at"])
    assert client.get("/api/subscriptions", headers=users.alice).json()[0]["alert_window"] == "weekly"

    for bad in ({"alert_window": "monthly"}, {}, {"alert_window": "daily_open", "ticker": "TSLA"}):
        error(client.patch(url, headers=users.alice, json=bad), 422)
    error(
        client.patch("/api/subscriptions/sub_000000000000", headers=users.alice, json={"alert_window": "weekly"}), 404
    )


def test_delete_subscription_is_204_then_404(client: TestClient, users: ApiUsers) -> None:
    created = subscribe(client, users.alice, "AAPL")
    url = f"/api/subscriptions/{created['subscription_id']}"
    deleted = client.delete(url, headers=users.alice)
    assert deleted.status_code == 204 and deleted.content == b""
    error(client.delete(url, headers=users.alice), 404)
    error(client.patch(url, headers=users.alice, json={"alert_window": "weekly"}), 404)
    assert client.get("/api/subscriptions", headers=users.alice).json() == []
    subscribe(client, users.alice, "AAPL")  # and the ticker can be subscribed to again


def test_another_users_subscription_is_404_and_stays_unchanged(client: TestClient, users: ApiUsers) -> None:
    alices = subscribe(client, users.alice, "AAPL", "daily_open")
    url = f"/api/subscriptions/{alices['subscription_id']}"
    assert client.get("/api/subscriptions", headers=users.bob).json() == []
    error(client.patch(url, headers=users.bob, json={"alert_window": "weekly"}), 404)
    error(client.delete(url, headers=users.bob), 404)
    assert client.get("/api/subscriptions", headers=users.alice).json() == [alices]


# --- reports: a catalogue on the documented boundaries ---------------------------------------
def _at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, second, tzinfo=UTC)


CATALOGUE: dict[str, dict[str, Any]] = {
    "apple_hidden": {
        "ticker": "AAPL", "published_at": _at(4, 8), "status": "hidden", "sentiment_score": 0.9,
        "anomaly_score": 0.95, "keywords": ["earnings"], "headline": "Apple duplicate",
        "summary_text": "A duplicate nobody should see.",
    },
    "apple_late": {
        "ticker": "AAPL", "published_at": _at(3, 15), "sentiment_score": 0.1, "anomaly_score": 0.0,
        "keywords": ["services"], "tags": ["services"], "headline": "Apple services revenue grows",
        "summary_text": "Services keep growing despite the lawsuit.",
    },
    "apple_up": {
        "ticker": "AAPL", "published_at": _at(3, 10), "sentiment_score": 0.5, "anomaly_score": 0.1,
        "keywords": ["earnings", "아이폰"], "tags": ["earnings"], "headline": "Apple beats earnings expectations",
        "summary_text": "Apple reported record iPhone sales.", "cost_usd": 0.0123, "model": "gpt-test",
        "source_refs": [{"url": "https://news.example/apple", "title": "Apple beats", "source": "Wire"}],
        "anomalies": [{"label": "surge", "score": 0.1, "description": "volume"}],
    },
    "tesla_recall": {
        "ticker": "TSLA", "published_at": _at(2, 23, 59, 59), "sentiment_score": 0.0, "anomaly_score": 0.4,
        "keywords": ["recall", "리콜"], "tags": ["recall", "urgent"], "headline": "Tesla recall: seat belt recall widens",
        "summary_text": "Tesla expands the seat belt recall; the recall covers the Model Y.",
    },
    "apple_down": {
        "ticker": "AAPL", "published_at": _at(2, 9), "sentiment_score": -0.5, "anomaly_score": 0.45,
        "keywords": ["lawsuit", "반독점"], "tags": ["lawsuit"], "headline": "Apple sued over App Store fees",
        "summary_text": "An antitrust lawsuit says the App Store fees break antitrust law.",
    },
    "samsung": {
        "ticker": "005930.KS", "published_at": _at(1, 12), "sentiment_score": -0.2, "anomaly_score": 0.9,
        "keywords": ["반도체", "삼성전자"], "tags": ["semiconductor"], "headline": "삼성전자 반도체 수출 급증",
        "summary_text": "삼성전자의 메모리 반도체 수출이 크게 늘었습니다.", "locale": "ko_KR",
    },
    "tesla_delivery": {
        "ticker": "TSLA", "published_at": _at(1, 0), "sentiment_score": 0.2, "anomaly_score": 0.39,
        "keywords": ["delivery", "earnings"], "tags": ["delivery"], "headline": "Tesla deliveries flat",
        "summary_text": "Deliveries were flat; one analyst mentioned the recall.",
    },
    "microsoft_draft": {
        "ticker": "MSFT", "published_at": _at(28, 8, month=2), "status": "draft", "sentiment_score": 0.21,
        "keywords": ["cloud"], "headline": "Microsoft cloud growth", "summary_text": "Azure grew.",
    },
}  # fmt: skip
VISIBLE = ["apple_late", "apple_up", "tesla_recall", "apple_down", "samsung", "tesla_delivery", "microsoft_draft"]
PUBLISHED = [n for n in VISIBLE if n != "microsoft_draft"]  # what a reader (not an admin) sees


@pytest.fixture
def catalogue(make_reports: Callable[[list[dict[str, Any]]], list[str]]) -> dict[str, str]:
    """CATALOGUE's reports in the database: name -> insight_id."""
    return dict(zip(CATALOGUE, make_reports(list(CATALOGUE.values())), strict=True))


def summary(body: dict[str, Any]) -> dict[str, Any]:
    assert SUMMARY_FIELDS <= set(body), body
    assert body["status"] in REPORT_STATUSES
    assert isinstance(body["favorite"], bool) and isinstance(body["tags"], list)
    assert isinstance(body["sentiment_score"], float | int)
    timestamp(body["published_at"])
    return body


def test_reports_are_listed_newest_first_without_hidden_ones(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    response = client.get("/api/reports", headers=users.alice)
    assert response.status_code == 200
    body = [summary(item) for item in response.json()]
    assert [item["insight_id"] for item in body] == [catalogue[n] for n in PUBLISHED]  # no drafts for readers
    assert ids(client.get("/api/reports", headers=users.admin)) == [catalogue[n] for n in VISIBLE]
    published = [timestamp(item["published_at"]) for item in body]
    assert published == sorted(published, reverse=True)
    assert not any(item["favorite"] for item in body)


def test_the_sample_pipelines_reports_are_listed(client: TestClient, users: ApiUsers, reports: list[str]) -> None:
    body = [summary(item) for item in client.get("/api/reports", headers=users.alice).json()]
    assert {item["insight_id"] for item in body} == set(reports)
    assert {item["ticker"] for item in body} == {"AAPL", "TSLA"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=all", ["apple_hidden", *VISIBLE]),
        ("status=hidden", ["apple_hidden"]),
        ("status=draft", ["microsoft_draft"]),
        ("status=published", [n for n in VISIBLE if n != "microsoft_draft"]),
        ("date=2025-03-02", ["tesla_recall", "apple_down"]),
        ("date=2025-03-01", ["samsung", "tesla_delivery"]),
        ("date_from=2025-03-02", ["apple_late", "apple_up", "tesla_recall", "apple_down"]),
        ("date_to=2025-03-01", ["samsung", "tesla_delivery", "microsoft_draft"]),
        ("date_from=2025-03-01&date_to=2025-03-02", ["tesla_recall", "apple_down", "samsung", "tesla_delivery"]),
        ("tickers=AAPL&tickers=TSLA", ["apple_late", "apple_up", "tesla_recall", "apple_down", "tesla_delivery"]),
        ("tickers=AAPL,TSLA", ["apple_late", "apple_up", "tesla_recall", "apple_down", "tesla_delivery"]),
        ("tickers=aapl", ["apple_late", "apple_up", "apple_down"]),
        ("tickers=005930", ["samsung"]),
        ("tickers=NVDA", []),
        ("keywords=리콜", ["tesla_recall"]),
        ("keywords=반도체", ["samsung"]),
        ("keywords=반독점&keywords=delivery", ["apple_down", "tesla_delivery"]),
        ("keywords=earnings", ["apple_up", "tesla_delivery"]),
        ("urgent_only=true", ["tesla_recall", "apple_down", "samsung"]),
        ("urgent_only=false", VISIBLE),
        ("sentiment=positive", ["apple_up", "microsoft_draft"]),
        ("sentiment=negative", ["apple_down"]),
        ("sentiment=neutral", ["apple_late", "tesla_recall", "samsung", "tesla_delivery"]),
        ("search=삼성", ["samsung"]),
        ("search=APPLE", ["apple_late", "apple_up", "apple_down"]),
        ("search=seat%20belt", ["tesla_recall"]),
        ("search=100%25", []),
        ("tickers=AAPL&sentiment=negative&urgent_only=true", ["apple_down"]),
        ("status=all&tickers=AAPL&date=2025-03-04", ["apple_hidden"]),
    ],
)
def test_report_filters(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str], query: str, expected: list[str]
) -> None:
    """As an admin, who may see every status; readers see the published ones of these."""
    assert ids(client.get(f"/api/reports?{query}", headers=users.admin)) == [catalogue[n] for n in expected]
    if "status=" not in query:
        published = [catalogue[n] for n in expected if n in PUBLISHED]
        assert ids(client.get(f"/api/reports?{query}", headers=users.alice)) == published


@pytest.mark.parametrize("status_", ["all", "hidden", "draft"])
def test_readers_may_not_list_draft_or_hidden_reports(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str], status_: str
) -> None:
    assert "only admins" in error(client.get(f"/api/reports?status={status_}", headers=users.alice), 403)


def test_report_paging_covers_the_list_without_overlap(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    pages = [ids(client.get(f"/api/reports?limit=3&offset={o}", headers=users.admin)) for o in (0, 3, 6, 9)]
    assert [len(p) for p in pages] == [3, 3, 1, 0]
    assert [i for page in pages for i in page] == [catalogue[n] for n in VISIBLE]


def test_report_page_size_is_capped_by_api_max_page_size(
    make_settings: Callable[..., Settings], pg_dsn: str, catalogue: dict[str, str]
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", api_max_page_size=5)
    _, key = create_user(settings, "carol")
    with TestClient(create_app(settings)) as small:
        headers = {"Authorization": f"Bearer {key}"}
        assert len(ids(small.get("/api/reports?limit=5", headers=headers))) == 5
        assert "API_MAX_PAGE_SIZE" in error(small.get("/api/reports?limit=6", headers=headers), 422)


@pytest.mark.parametrize(
    "query",
    [
        "limit=101", "limit=0", "limit=ten", "offset=-1", "date=2025-13-01", "date=yesterday",
        "date_from=2025-03-02&date_to=2025-03-01", "sentiment=happy", "status=deleted", "urgent_only=maybe",
        "tickers=AA%20PL", "search=" + "x" * 201,
    ],
)  # fmt: skip
def test_bad_report_queries_are_422(client: TestClient, users: ApiUsers, query: str) -> None:
    error(client.get(f"/api/reports?{query}", headers=users.alice), 422)


@pytest.mark.parametrize(
    "url",
    [
        "/api/reports?date=9999-12-31",
        "/api/reports?date_to=9999-12-31",
        "/api/usage?date_to=9999-12-31",
        "/api/usage?date_to=0001-01-01",
    ],
)
def test_dates_at_the_edge_of_the_calendar_are_not_server_errors(client: TestClient, users: ApiUsers, url: str) -> None:
    # these were 500s (OverflowError: a day added to 9999-12-31, 29 days taken from 0001-01-01)
    response = client.get(url, headers=users.alice)
    if response.status_code != 200:
        error(response, 422)


def test_keyword_filter_does_not_match_inside_unicode_escapes(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    # the JSON column stores 반도체 as \ubc18\ub3c4\uccb4 and 리콜 as \ub9ac\ucf5c: no match inside those
    assert ids(client.get("/api/reports?keywords=ub", headers=users.alice)) == []
    assert ids(client.get("/api/reports?keywords=c5c", headers=users.alice)) == []


def test_report_detail_has_every_field(client: TestClient, users: ApiUsers, catalogue: dict[str, str]) -> None:
    response = client.get(f"/api/reports/{catalogue['apple_up']}", headers=users.alice)
    assert response.status_code == 200
    body = summary(response.json())
    assert DETAIL_FIELDS | OUR_DETAIL_FIELDS <= set(body)
    expected = CATALOGUE["apple_up"]
    assert body["insight_id"] == catalogue["apple_up"] and body["ticker"] == "AAPL" and body["status"] == "published"
    assert body["keywords"] == ["earnings", "아이폰"] and body["tags"] == ["earnings"]
    assert body["summary_text"] == expected["summary_text"] and body["headline"] == expected["headline"]
    assert body["anomaly_score"] == 0.1 and body["sentiment_score"] == 0.5
    assert body["cost_usd"] == 0.0123 and body["model"] == "gpt-test" and body["locale"] == "en_US"
    assert body["story_count"] == 1 and body["attachments"] == []
    assert body["anomalies"] == expected["anomalies"]
    assert body["source_refs"] == expected["source_refs"]
    assert body["glossary"] and all({"term", "explanation"} <= set(g) for g in body["glossary"])
    assert timestamp(body["published_at"]) == expected["published_at"]


def test_sample_report_detail_has_sourced_refs(client: TestClient, users: ApiUsers, reports: list[str]) -> None:
    for insight_id in reports:
        body = client.get(f"/api/reports/{insight_id}", headers=users.alice).json()
        assert DETAIL_FIELDS | OUR_DETAIL_FIELDS <= set(body)
        assert body["source_refs"], insight_id
        for ref in body["source_refs"]:
            assert isinstance(ref["url"], str) and ref["url"].startswith("http")
            assert isinstance(ref["title"], str) and ref["title"]
        for item in body["glossary"]:
            assert isinstance(item["term"], str) and isinstance(item["explanation"], str)
        assert isinstance(body["story_count"], int) and body["story_count"] >= 1


@pytest.mark.parametrize("suffix", ["", "/related"], ids=["detail", "related"])
@pytest.mark.parametrize("insight_id", ["ins_0000000000000000", "x" * 40, "%E2%9C%93"])
def test_unknown_report_is_404(client: TestClient, users: ApiUsers, insight_id: str, suffix: str) -> None:
    error(client.get(f"/api/reports/{insight_id}{suffix}", headers=users.alice), 404)


def test_related_reports_share_a_ticker_or_a_keyword(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    response = client.get(f"/api/reports/{catalogue['apple_up']}/related", headers=users.alice)
    body = [summary(item) for item in response.json()]
    # same ticker first (newest first), then reports sharing a keyword; never itself or hidden ones
    assert [item["insight_id"] for item in body] == [
        catalogue["apple_late"], catalogue["apple_down"], catalogue["tesla_delivery"]
    ]  # fmt: skip
    assert ids(client.get(f"/api/reports/{catalogue['samsung']}/related", headers=users.alice)) == []
    assert len(ids(client.get(f"/api/reports/{catalogue['apple_up']}/related?limit=1", headers=users.alice))) == 1


def test_related_reports_need_a_really_shared_keyword(
    client: TestClient, users: ApiUsers, make_reports: Callable[[list[dict[str, Any]]], list[str]]
) -> None:
    # 'car' is a substring of 'carbon', not a shared keyword
    base, _other = make_reports(
        [
            {"ticker": "TSLA", "published_at": _at(2), "keywords": ["car"]},
            {"ticker": "XOM", "published_at": _at(1), "keywords": ["carbon"]},
        ]
    )
    assert ids(client.get(f"/api/reports/{base}/related", headers=users.alice)) == []


def test_admin_changes_a_reports_status_and_hidden_reports_leave_the_list(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    target = catalogue["apple_up"]
    assert target in ids(client.get("/api/reports", headers=users.alice))  # now cached
    response = client.patch(f"/api/reports/{target}/status", headers=users.admin, json={"status": "hidden"})
    assert response.status_code == 200
    body = response.json()
    assert DETAIL_FIELDS | OUR_DETAIL_FIELDS <= set(body) and body["status"] == "hidden"
    assert target not in ids(client.get("/api/reports", headers=users.alice))
    assert target in ids(client.get("/api/reports?status=all", headers=users.admin))
    assert client.get(f"/api/reports/{target}", headers=users.admin).json()["status"] == "hidden"
    # For everyone else it is gone everywhere: detail, related, search, the sentiment series, favourites.
    error(client.get(f"/api/reports/{target}", headers=users.alice), 404)
    error(client.put(f"/api/reports/{target}/favorite", headers=users.alice), 404)
    related = client.get(f"/api/reports/{catalogue['apple_late']}/related", headers=users.alice)
    assert target not in ids(related)
    assert target not in ids(client.get("/api/search?query=earnings", headers=users.alice))
    points = client.get("/api/tickers/AAPL/sentiment?days=30", headers=users.alice).json()["points"]
    assert [p for p in points if p["date"] == "2025-03-03"] == [{"date": "2025-03-03", "sentiment": 0.1, "reports": 1}]

    back = client.patch(f"/api/reports/{target}/status", headers=users.admin, json={"status": "published"})
    assert back.status_code == 200 and back.json()["status"] == "published"
    assert target in ids(client.get("/api/reports", headers=users.alice))


def test_a_draft_is_an_admins_business(client: TestClient, users: ApiUsers, catalogue: dict[str, str]) -> None:
    draft = catalogue["microsoft_draft"]
    error(client.get(f"/api/reports/{draft}", headers=users.alice), 404)
    assert client.get(f"/api/reports/{draft}", headers=users.admin).json()["status"] == "draft"
    error(client.post("/api/chat/sessions", headers=users.alice, json={"insight_id": draft}), 404)
    assert client.post("/api/chat/sessions", headers=users.admin, json={"insight_id": draft}).status_code == 201


def test_report_status_errors(client: TestClient, users: ApiUsers, catalogue: dict[str, str]) -> None:
    url = f"/api/reports/{catalogue['apple_up']}/status"
    for bad in ({"status": "archived"}, {"status": "Published"}, {}, {"status": "hidden", "note": "x"}):
        error(client.patch(url, headers=users.admin, json=bad), 422)
    error(client.patch("/api/reports/ins_0000000000000000/status", headers=users.admin, json={"status": "hidden"}), 404)
    assert "admin" in error(client.patch(url, headers=users.alice, json={"status": "hidden"}), 403)
    assert client.get(f"/api/reports/{catalogue['apple_up']}", headers=users.alice).json()["status"] == "published"
    error(client.patch(url, json={"status": "hidden"}), 401)


def test_favourites_are_idempotent_and_per_user(client: TestClient, users: ApiUsers, catalogue: dict[str, str]) -> None:
    target = catalogue["apple_down"]
    url = f"/api/reports/{target}/favorite"
    for _ in range(2):
        response = client.put(url, headers=users.alice)
        assert response.status_code == 204 and response.content == b""
    assert client.get(f"/api/reports/{target}", headers=users.alice).json()["favorite"] is True
    assert client.get(f"/api/reports/{target}", headers=users.bob).json()["favorite"] is False
    flags = {i["insight_id"]: i["favorite"] for i in client.get("/api/reports", headers=users.alice).json()}
    assert flags[target] is True and sum(flags.values()) == 1
    assert not any(i["favorite"] for i in client.get("/api/reports", headers=users.bob).json())
    assert ids(client.get("/api/reports?favorites_only=true", headers=users.alice)) == [target]
    assert ids(client.get("/api/reports?favorites_only=true", headers=users.bob)) == []
    related = client.get(f"/api/reports/{catalogue['apple_up']}/related", headers=users.alice).json()
    assert {i["insight_id"]: i["favorite"] for i in related}[target] is True

    for _ in range(2):
        response = client.delete(url, headers=users.alice)
        assert response.status_code == 204 and response.content == b""
    assert client.get(f"/api/reports/{target}", headers=users.alice).json()["favorite"] is False
    assert ids(client.get("/api/reports?favorites_only=true", headers=users.alice)) == []


def test_favourite_of_an_unknown_report_is_404(client: TestClient, users: ApiUsers) -> None:
    error(client.put("/api/reports/ins_0000000000000000/favorite", headers=users.alice), 404)
    error(client.delete("/api/reports/ins_0000000000000000/favorite", headers=users.alice), 404)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("antitrust lawsuit", ["apple_down", "apple_late"]),  # the older, better match first
        ("recall", ["tesla_recall", "tesla_delivery"]),
        ("반도체", ["samsung"]),
        ("duplicate", []),  # only in a hidden report
        ("!!!", []),
    ],
)
def test_search_ranks_by_relevance(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str], query: str, expected: list[str]
) -> None:
    response = client.get("/api/search", params={"query": query}, headers=users.alice)
    body = [summary(item) for item in response.json()]
    assert [item["insight_id"] for item in body] == [catalogue[n] for n in expected]


@pytest.mark.parametrize("query", ["", "query=", "query=" + "x" * 201, "query=apple&limit=0"])
def test_search_needs_a_query(client: TestClient, users: ApiUsers, query: str) -> None:
    error(client.get(f"/api/search?{query}", headers=users.alice), 422)


# --- sentiment series ----------------------------------------------------------------------
def test_ticker_sentiment_is_a_daily_mean_oldest_first(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    response = client.get("/api/tickers/aapl/sentiment", headers=users.alice)
    assert response.status_code == 200
    assert response.json() == {
        "ticker": "AAPL",
        "points": [  # the hidden report of 2025-03-04 does not count
            {"date": "2025-03-02", "sentiment": -0.5, "reports": 1},
            {"date": "2025-03-03", "sentiment": 0.3, "reports": 2},
        ],
    }
    last_day = client.get("/api/tickers/AAPL/sentiment?days=1", headers=users.alice).json()
    assert [p["date"] for p in last_day["points"]] == ["2025-03-03"]
    korean = client.get("/api/tickers/005930/sentiment", headers=users.alice).json()
    assert korean == {"ticker": "005930.KS", "points": [{"date": "2025-03-01", "sentiment": -0.2, "reports": 1}]}


def test_ticker_sentiment_errors_and_empty_series(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    assert client.get("/api/tickers/NVDA/sentiment", headers=users.alice).json() == {"ticker": "NVDA", "points": []}
    for bad in ("AA%20PL", "%24AAPL", "A" * 16):
        error(client.get(f"/api/tickers/{bad}/sentiment", headers=users.alice), 422)
    error(client.get("/api/tickers/AAPL/sentiment?days=0", headers=users.alice), 422)


# --- notifications -------------------------------------------------------------------------
DEFAULT_POLICY = {
    "timezone": "Asia/Seoul",
    "window": "daily_close",
    "frequency": "daily",
    "channels": [],  # every verified channel
    "quiet_hours_start": None,
    "quiet_hours_end": None,
    "locale": "ko_KR",  # our addition, from DEFAULT_LOCALE
}
CUSTOM_POLICY = {
    "timezone": "America/New_York",
    "window": "morning_open",
    "frequency": "weekly",
    "channels": ["web-push", "webhook"],
    "quiet_hours_start": "08:30",
    "quiet_hours_end": "17:45",
}


def test_notification_policy_defaults(client: TestClient, users: ApiUsers) -> None:
    response = client.get("/api/notifications/policy", headers=users.alice)
    assert response.status_code == 200
    assert response.json() == {"user_id": "alice", **DEFAULT_POLICY}


def test_notification_policy_round_trips_and_is_per_user(client: TestClient, users: ApiUsers) -> None:
    put = client.put("/api/notifications/policy", headers=users.alice, json=CUSTOM_POLICY)
    assert put.status_code == 200
    assert set(put.json()) == POLICY_FIELDS | OUR_POLICY_FIELDS
    assert put.json() == {"user_id": "alice", **CUSTOM_POLICY, "locale": "ko_KR"}
    english = client.put("/api/notifications/policy", headers=users.alice, json={**CUSTOM_POLICY, "locale": "en_US"})
    assert english.status_code == 200 and english.json()["locale"] == "en_US"
    assert client.put("/api/notifications/policy", headers=users.alice, json={"locale": "fr_FR"}).status_code == 422
    client.put("/api/notifications/policy", headers=users.alice, json=CUSTOM_POLICY)  # locale unchanged
    assert client.get("/api/notifications/policy", headers=users.alice).json()["locale"] == "en_US"
    client.put("/api/notifications/policy", headers=users.alice, json={**CUSTOM_POLICY, "locale": "ko_KR"})
    assert client.get("/api/notifications/policy", headers=users.alice).json() == put.json()
    assert client.get("/api/notifications/policy", headers=users.bob).json() == {"user_id": "bob", **DEFAULT_POLICY}

    again = {**CUSTOM_POLICY, "channels": ["email"], "quiet_hours_start": None, "quiet_hours_end": None}
    assert client.put("/api/notifications/policy", headers=users.alice, json=again).json() == {
        "locale": "ko_KR",
        "user_id": "alice",
        **again,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "KST"},
        {"channels": ["sms"]},
        {"channels": "email"},
        {"quiet_hours_start": "22:00", "quiet_hours_end": None},
        {"quiet_hours_start": None, "quiet_hours_end": "07:00"},
        {"quiet_hours_start": "22:00", "quiet_hours_end": "07:00"},
        {"quiet_hours_start": "09:00", "quiet_hours_end": "09:00"},
        {"quiet_hours_start": "7:00", "quiet_hours_end": "09:00"},
        {"quiet_hours_start": "09:00", "quiet_hours_end": "24:00"},
        {"quiet_hours_start": "09:60", "quiet_hours_end": "10:00"},
        {"quiet_hours_start": "0900", "quiet_hours_end": "1000"},
        {"window": "evening"},
        {"frequency": "hourly"},
        {"extra": True},
    ],
)
def test_bad_notification_policies_are_422(client: TestClient, users: ApiUsers, change: dict[str, Any]) -> None:
    error(client.put("/api/notifications/policy", headers=users.alice, json={**CUSTOM_POLICY, **change}), 422)
    assert client.get("/api/notifications/policy", headers=users.alice).json() == {"user_id": "alice", **DEFAULT_POLICY}


def test_timezones_are_iana_names(client: TestClient, users: ApiUsers) -> None:
    response = client.get("/api/notifications/timezones", headers=users.alice)
    assert response.status_code == 200
    zones = response.json()
    assert {"Asia/Seoul", "America/New_York", "UTC"} <= set(zones)
    assert zones == sorted(zones) and all(isinstance(z, str) for z in zones)
    error(client.get("/api/notifications/timezones"), 401)


# --- usage and jobs ------------------------------------------------------------------------
def _chat(settings: Settings, user_id: str, insight_id: str, costs: list[float], *, when: datetime) -> None:
    """A chat session of `user_id` on the report with one user + one agent message per cost."""
    import uuid

    with session_scope(settings.dsn) as session:
        sid = f"chs_{uuid.uuid4().hex[:12]}"
        session.add(ChatSession(session_id=sid, user_id=user_id, insight_id=insight_id, status="Conversing",
                                started_at=when, updated_at=when))  # fmt: skip
        session.flush()
        for cost in costs:
            for sender, tokens, paid in (("user", 0, 0.0), ("agent", 100, cost)):
                session.add(
                    ChatMessage(
                        message_id=f"msg_{uuid.uuid4().hex[:12]}",
                        session_id=sid,
                        user_id=user_id,
                        sender=sender,
                        content="…",
                        prompt_tokens=tokens,
                        completion_tokens=tokens // 2,
                        cost_usd=paid,
                        created_at=when,
                    )  # fmt: skip
                )


def _job(settings: Settings, **values: Any) -> None:
    with session_scope(settings.dsn) as session:
        session.add(JobRun(**{"status": "SUCCEEDED", "trace_id": "t-default", **values}))


@pytest.fixture
def spending(api_settings: Settings, make_reports: Callable[[list[dict[str, Any]]], list[str]]) -> datetime:
    """Chat by alice (AAPL, 0.001 + 0.002 USD) and bob (TSLA, 0.005 USD); one paid analysis run."""
    now = utcnow()
    aapl, tsla = make_reports([{"ticker": "AAPL", "published_at": now}, {"ticker": "TSLA", "published_at": now}])
    _chat(api_settings, "alice", aapl, [0.001, 0.002], when=now)
    _chat(api_settings, "bob", tsla, [0.005], when=now)
    _job(api_settings, stage="analyze", ticker="AAPL", started_at=now, prompt_tokens=1000, completion_tokens=200,
         cost_usd=0.03)  # fmt: skip
    _job(api_settings, stage="collect", ticker="AAPL", started_at=now)  # free: not spending
    return now


def test_users_see_only_their_own_chat_usage(client: TestClient, users: ApiUsers, spending: datetime) -> None:
    response = client.get("/api/usage", headers=users.alice)
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "own" and body["user_id"] == "alice"
    today = spending.date().isoformat()
    assert body["rows"] == [
        {"day": today, "stage": "chat", "ticker": "AAPL", "calls": 2, "prompt_tokens": 200,
         "completion_tokens": 100, "cost_usd": 0.003},
    ]  # fmt: skip
    assert body["total_cost_usd"] == pytest.approx(0.003)
    assert body["chat_spent_today_usd"] == pytest.approx(0.003)
    assert body["analysis_daily_budget_usd"] is None
    assert body["date_to"] == today
    bob = client.get("/api/usage", headers=users.bob).json()
    assert [(r["ticker"], r["calls"], r["cost_usd"]) for r in bob["rows"]] == [("TSLA", 1, 0.005)]


def test_admins_see_everyones_usage_including_pipeline_runs(
    client: TestClient, users: ApiUsers, spending: datetime
) -> None:
    body = client.get("/api/usage", headers=users.admin).json()
    assert body["scope"] == "all" and body["user_id"] == "root"
    rows = {(r["stage"], r["ticker"]): (r["calls"], r["cost_usd"]) for r in body["rows"]}
    assert rows == {("analyze", "AAPL"): (1, 0.03), ("chat", "AAPL"): (2, 0.003), ("chat", "TSLA"): (1, 0.005)}
    assert body["total_cost_usd"] == pytest.approx(0.038)
    assert body["chat_spent_today_usd"] == 0  # the admin's own chat


def test_usage_date_range(client: TestClient, users: ApiUsers, spending: datetime) -> None:
    yesterday = (spending - timedelta(days=1)).date().isoformat()
    body = client.get(f"/api/usage?date_to={yesterday}", headers=users.alice).json()
    assert body["rows"] == [] and body["total_cost_usd"] == 0
    error(client.get(f"/api/usage?date_from={spending.date()}&date_to={yesterday}", headers=users.alice), 422)
    error(client.get("/api/usage?date_from=last-week", headers=users.alice), 422)
    error(client.get("/api/usage"), 401)


@pytest.fixture
def job_runs(api_settings: Settings) -> datetime:
    start = utcnow() - timedelta(hours=1)
    _job(api_settings, stage="collect", status="SUCCEEDED", ticker="AAPL", source="sample", trace_id="t-1",
         started_at=start, finished_at=start + timedelta(seconds=2), fetched=10, unique=8, saved=8)  # fmt: skip
    _job(api_settings, stage="analyze", status="FAILED", ticker="AAPL", source="offline", trace_id="t-1",
         started_at=start + timedelta(minutes=1), error_code="llm_unavailable", error_message="timed out",
         details={"attempts": 3})  # fmt: skip
    _job(api_settings, stage="collect", status="SUCCEEDED", ticker="TSLA", trace_id="t-2",
         started_at=start + timedelta(minutes=2))  # fmt: skip
    return start


def test_jobs_for_admins_newest_first(client: TestClient, users: ApiUsers, job_runs: datetime) -> None:
    response = client.get("/api/jobs", headers=users.admin)
    assert response.status_code == 200
    body = response.json()
    assert [(j["stage"], j["ticker"]) for j in body] == [("collect", "TSLA"), ("analyze", "AAPL"), ("collect", "AAPL")]
    failed = body[1]
    assert failed["status"] == "FAILED" and failed["error_code"] == "llm_unavailable"
    assert failed["details"] == {"attempts": 3} and failed["finished_at"] is None
    assert timestamp(body[2]["finished_at"]) > timestamp(body[2]["started_at"])
    assert {"id", "stage", "status", "ticker", "source", "trace_id", "started_at", "cost_usd"} <= set(failed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("stage=collect", [("collect", "TSLA"), ("collect", "AAPL")]),
        ("status=failed", [("analyze", "AAPL")]),
        ("status=SUCCEEDED&ticker=aapl", [("collect", "AAPL")]),
        ("ticker=TSLA", [("collect", "TSLA")]),
        ("trace_id=t-1", [("analyze", "AAPL"), ("collect", "AAPL")]),
        ("trace_id=t-9", []),
        ("limit=1&offset=1", [("analyze", "AAPL")]),
    ],
)
def test_job_filters(
    client: TestClient, users: ApiUsers, job_runs: datetime, query: str, expected: list[tuple[str, str]]
) -> None:
    response = client.get(f"/api/jobs?{query}", headers=users.admin)
    assert response.status_code == 200
    assert [(j["stage"], j["ticker"]) for j in response.json()] == expected


def test_jobs_are_for_admins_only(client: TestClient, users: ApiUsers, job_runs: datetime) -> None:
    assert "admin" in error(client.get("/api/jobs", headers=users.alice), 403)
    response = client.get("/api/jobs")
    error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    error(client.get("/api/jobs?limit=0", headers=users.admin), 422)


# --- CORS ----------------------------------------------------------------------------------
PREFLIGHT = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}


def test_no_cross_origin_requests_by_default(client: TestClient, users: ApiUsers) -> None:
    origin = {"Origin": "http://localhost:3000"}
    preflight = client.options("/api/reports", headers={**origin, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/api/reports", headers={**origin, **users.alice})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins(
    make_settings: Callable[..., Settings], pg_dsn: str, users: ApiUsers
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", api_cors_origins='["http://localhost:3000"]')
    assert settings.api_cors_origins == ["http://localhost:3000"]
    with TestClient(create_app(settings)) as cors:
        allowed = cors.options("/api/reports", headers={"Origin": "http://localhost:3000", **PREFLIGHT})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "GET" in allowed.headers["access-control-allow-methods"]

        refused = cors.options("/api/reports", headers={"Origin": "http://evil.example", **PREFLIGHT})
        assert refused.status_code >= 400 and "access-control-allow-origin" not in refused.headers

        ok = cors.get("/api/reports", headers={"Origin": "http://localhost:3000", **users.alice})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = cors.get("/api/reports", headers={"Origin": "http://evil.example", **users.alice})
        assert "access-control-allow-origin" not in other.headers

"""Reports over HTTP (API.md): filters, paging and ranking over a small catalogue of reports
inserted directly (`CATALOGUE`), whose dates, sentiments, anomaly scores and keywords (Korean
among them) sit on the documented boundaries; detail, related, status, favourites, search and
the sentiment series."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockteacher.accounts.service import create_user
from stockteacher.api.app import create_app
from stockteacher.settings import Settings
from tests.factories.api import ApiUsers, error, ids, timestamp

# every test: a fresh reports cache, and a deadlock on its lock fails the test instead of hanging
pytestmark = pytest.mark.usefixtures("report_cache_guard")

SUMMARY_FIELDS = {"insight_id", "ticker", "published_at", "status", "sentiment_score", "headline", "tags", "favorite"}
DETAIL_FIELDS = SUMMARY_FIELDS | {"summary_text", "anomaly_score", "keywords", "source_refs", "attachments"}
OUR_DETAIL_FIELDS = {"glossary", "anomalies", "cost_usd", "model", "locale", "story_count"}
REPORT_STATUSES = {"draft", "published", "hidden"}


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


def test_cached_report_json_carries_each_callers_own_favourite_flag(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    target, cache = catalogue["apple_down"], client.app.state.report_cache  # type: ignore[attr-defined]
    detail, page = f"/api/reports/{target}", "/api/reports"
    assert client.get(detail, headers=users.alice).json()["favorite"] is False  # fills the cache
    assert target in ids(client.get(page, headers=users.alice))
    hits = cache.hits

    assert client.put(f"{detail}/favorite", headers=users.alice).status_code == 204
    assert client.get(detail, headers=users.alice).json()["favorite"] is True
    assert client.get(detail, headers=users.bob).json()["favorite"] is False
    flags = {i["insight_id"]: i["favorite"] for i in client.get(page, headers=users.alice).json()}
    assert flags[target] is True and sum(flags.values()) == 1
    assert not any(i["favorite"] for i in client.get(page, headers=users.bob).json())
    assert cache.hits >= hits + 4, "every one of those was answered from the cached JSON"

    assert client.delete(f"{detail}/favorite", headers=users.alice).status_code == 204
    assert client.get(detail, headers=users.alice).json()["favorite"] is False
    assert not any(i["favorite"] for i in client.get(page, headers=users.alice).json())


def test_a_status_change_replaces_the_cached_report_json(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    target, cache = catalogue["apple_up"], client.app.state.report_cache  # type: ignore[attr-defined]
    detail = f"/api/reports/{target}"
    assert client.get(detail, headers=users.alice).json()["status"] == "published"
    assert client.get(detail, headers=users.alice).status_code == 200 and cache.hits >= 1  # from the cache now
    assert client.patch(f"{detail}/status", headers=users.admin, json={"status": "hidden"}).status_code == 200
    error(client.get(detail, headers=users.alice), 404)
    assert client.get(detail, headers=users.admin).json()["status"] == "hidden"
    assert target not in ids(client.get("/api/reports", headers=users.alice))
    assert client.patch(f"{detail}/status", headers=users.admin, json={"status": "draft"}).status_code == 200
    assert client.get(detail, headers=users.admin).json()["status"] == "draft"
    assert [
        i["status"] for i in client.get("/api/reports", headers=users.admin).json() if i["insight_id"] == target
    ] == ["draft"]


def test_cached_report_json_is_what_the_uncached_app_answers(
    api_settings: Settings, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    target = catalogue["samsung"]
    uncached = api_settings.model_copy(update={"api_cache_seconds": 0})
    lasting = api_settings.model_copy(update={"api_favorites_cache_seconds": 60})  # the loop outlasts 2 s
    with TestClient(create_app(lasting)) as cached_client, TestClient(create_app(uncached)) as fresh_client:
        assert cached_client.put(f"/api/reports/{target}/favorite", headers=users.alice).status_code == 204
        for url in (f"/api/reports/{target}", "/api/reports", "/api/reports?tickers=005930.KS"):
            for _ in range(2):  # the second answer comes from the cache
                cached, fresh = cached_client.get(url, headers=users.alice), fresh_client.get(url, headers=users.alice)
                assert cached.status_code == fresh.status_code == 200
                assert cached.headers["content-type"] == fresh.headers["content-type"] == "application/json"
                assert cached.json() == fresh.json()
        assert cached_client.app.state.report_cache.hits >= 3  # type: ignore[attr-defined]
        assert fresh_client.app.state.report_cache.hits == 0  # type: ignore[attr-defined]
    assert cached.json()[0]["headline"] == "삼성전자 반도체 수출 급증"


def test_a_cache_hit_opens_no_database_session(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockteacher.api import deps

    detail, page, draft = (f"/api/reports/{catalogue['apple_up']}", "/api/reports",
                           f"/api/reports/{catalogue['microsoft_draft']}")  # fmt: skip
    warm = {url: client.get(url, headers=users.alice).json() for url in (detail, page)}  # reports and favourites
    assert client.get(draft, headers=users.admin).json()["status"] == "draft"

    def no_session(*_args: object) -> None:
        raise AssertionError("a cache hit asked for a database session")

    monkeypatch.setattr(deps, "read_retrying", no_session)
    for url, body in warm.items():
        assert client.get(url, headers=users.alice).json() == body
    error(client.get(draft, headers=users.alice), 404)  # a cached draft is still no reader's business
    assert client.get(draft, headers=users.admin).json()["status"] == "draft"
    error(client.get("/api/reports?status=draft", headers=users.alice), 403)


def _front(client: TestClient) -> Any:
    from stockteacher.reports.views import CachedReports

    node = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(node, CachedReports):
        node = node.app
    return node


def test_hits_answered_before_routing_are_what_the_routes_answer(
    api_settings: Settings, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    """`CachedReports` answers plain pages and reports from the cache; every other request,
    however close, reaches the route, and both give the same status, headers and body."""
    target, draft = catalogue["apple_up"], catalogue["microsoft_draft"]
    answered = [
        "/api/reports", "/api/reports?limit=3", "/api/reports?offset=2", "/api/reports?limit=2&offset=1",
        "/api/reports?offset=1&limit=2", f"/api/reports/{target}", f"/api/reports/{draft}",
    ]  # fmt: skip
    passed_on = [
        "/api/reports?limit=0", "/api/reports?limit=5000", "/api/reports?limit=01", "/api/reports?limit=2&limit=3",
        "/api/reports?limit=2&x=1", "/api/reports?status=draft", "/api/reports?favorites_only=true",
        "/api/reports?limit=", f"/api/reports/{target}?x=1", "/api/reports/" + "x" * 40,
        "/api/reports/ins_0000000000000000", f"/api/reports/{target}/related", "/api/reports/",
    ]  # fmt: skip
    uncached = api_settings.model_copy(update={"api_cache_seconds": 0})
    lasting = api_settings.model_copy(update={"api_favorites_cache_seconds": 60})  # the loop outlasts 2 s
    with TestClient(create_app(lasting)) as cached_client, TestClient(create_app(uncached)) as fresh_client:
        assert cached_client.put(f"/api/reports/{target}/favorite", headers=users.alice).status_code == 204
        for url in answered + passed_on:
            cached_client.get(url, headers=users.alice)  # fills the cache
            cached_client.get(url, headers=users.admin)
        front = _front(cached_client)
        for url in answered + passed_on:
            for caller in (users.alice, users.admin, {"Authorization": "Bearer stk_unknown"}, {}):
                before = front.answered
                cached = cached_client.get(url, headers=caller, follow_redirects=False)
                fresh = fresh_client.get(url, headers=caller, follow_redirects=False)
                assert (cached.status_code, cached.content) == (fresh.status_code, fresh.content), url
                assert cached.headers.items() == fresh.headers.items(), url
                # a reader's draft is refused by the route (404), an admin's answered
                known = "Authorization" in caller and "stk_unknown" not in caller["Authorization"]
                expected = url in answered and known and (caller is users.admin or draft not in url)
                assert front.answered == before + expected, (url, caller)
        assert any(i["favorite"] for i in cached_client.get("/api/reports", headers=users.alice).json())
    assert front.answered > len(answered)


def test_a_report_read_on_the_event_loop_is_what_the_route_answers(
    api_settings: Settings, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    """A report not cached yet, for a caller whose favourites are, is read on the event loop
    (`fetch_report_json`): the same answer as the route's, hidden and draft ones refused."""
    uncached = api_settings.model_copy(update={"api_cache_seconds": 0})
    with TestClient(create_app(api_settings)) as cached_client, TestClient(create_app(uncached)) as fresh_client:
        assert (
            cached_client.put(f"/api/reports/{catalogue['samsung']}/favorite", headers=users.alice).status_code == 204
        )
        cache, front = cached_client.app.state.report_cache, _front(cached_client)  # type: ignore[attr-defined]
        for caller in (users.alice, users.admin):
            cached_client.get("/api/reports?limit=1", headers=caller)  # caches the caller's favourites only
            for name, insight_id in catalogue.items():
                url = f"/api/reports/{insight_id}"
                answered, misses = front.answered, cache.misses
                cached, fresh = cached_client.get(url, headers=caller), fresh_client.get(url, headers=caller)
                assert (cached.status_code, cached.content) == (fresh.status_code, fresh.content), name
                assert cached.headers.items() == fresh.headers.items(), name
                seen = caller is users.admin or CATALOGUE[name].get("status", "published") == "published"
                assert front.answered == answered + seen, name
                if caller is users.alice and name != "samsung":  # the favourite's PUT cached samsung
                    assert cache.misses == misses + 1, name  # read from the database, then cached
    assert cached_client.get(f"/api/reports/{catalogue['samsung']}", headers=users.alice).json()["favorite"] is True


def test_cached_favourites_follow_the_callers_own_changes_at_once(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    target, cache = catalogue["tesla_recall"], client.app.state.report_cache  # type: ignore[attr-defined]
    detail = f"/api/reports/{target}"
    assert client.get(detail, headers=users.alice).json()["favorite"] is False
    assert client.get(detail, headers=users.bob).json()["favorite"] is False  # both users' sets cached
    for on in (True, False, True):
        assert (client.put if on else client.delete)(f"{detail}/favorite", headers=users.alice).status_code == 204
        assert client.get(detail, headers=users.alice).json()["favorite"] is on
        flags = {i["insight_id"]: i["favorite"] for i in client.get("/api/reports", headers=users.alice).json()}
        assert flags[target] is on
        assert client.get(detail, headers=users.bob).json()["favorite"] is False
    hits = cache.hits
    assert client.get(detail, headers=users.alice).json()["favorite"] is True
    assert cache.hits == hits + 1


def test_a_favourites_read_that_raced_a_change_is_not_kept() -> None:
    from stockteacher.reports.service import ReportCache

    favorites = ReportCache(30).favorites
    before = favorites.generation("alice")  # a read starts: it may see the rows before the change
    favorites.forget("alice")  # the change commits
    favorites.put("alice", frozenset(), generation=before)
    assert favorites.get("alice") is None, "the stale set would have hidden the new favourite"
    favorites.put("alice", frozenset({"ins_1"}), generation=favorites.generation("alice"))
    assert favorites.get("alice") == {"ins_1"}
    assert ReportCache(0).favorites.get("alice") is None


def test_other_processes_see_status_and_favourite_changes_within_the_cache_time(
    api_settings: Settings, users: ApiUsers, catalogue: dict[str, str]
) -> None:
    """Two apps on one database stand for two processes: a change made through one reaches the
    other when the other's entries expire (README): a status change within `API_CACHE_SECONDS`,
    a reader's favourite within `API_FAVORITES_CACHE_SECONDS` — not at once."""
    import time

    target, seconds, favorite_seconds = catalogue["apple_late"], 1.0, 0.3
    short = api_settings.model_copy(
        update={"api_cache_seconds": seconds, "api_favorites_cache_seconds": favorite_seconds}
    )
    detail = f"/api/reports/{target}"
    with TestClient(create_app(short)) as here, TestClient(create_app(short)) as there:
        assert there.get(detail, headers=users.alice).json()["favorite"] is False  # cached there
        assert here.put(f"{detail}/favorite", headers=users.alice).status_code == 204
        assert here.get(detail, headers=users.alice).json()["favorite"] is True  # this process: at once
        changed = time.monotonic() + favorite_seconds + 0.2
        while there.get(detail, headers=users.alice).json()["favorite"] is False:
            assert time.monotonic() < changed, "the other process still shows the old favourites"
            time.sleep(0.05)
        assert here.patch(f"{detail}/status", headers=users.admin, json={"status": "hidden"}).status_code == 200
        error(here.get(detail, headers=users.alice), 404)  # this process: at once
        changed = time.monotonic() + seconds + 0.2
        while there.get(detail, headers=users.alice).status_code == 200:
            assert time.monotonic() < changed, "the other process still shows a hidden report"
            time.sleep(0.05)
        error(there.get(detail, headers=users.alice), 404)
        assert there.get(detail, headers=users.admin).json()["favorite"] is False  # the admin's own flag
        assert here.patch(f"{detail}/status", headers=users.admin, json={"status": "published"}).status_code == 200
        time.sleep(seconds + 0.1)
        assert there.get(detail, headers=users.alice).json()["favorite"] is True


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


def test_search_takes_q_for_query(client: TestClient, users: ApiUsers, catalogue: dict[str, str]) -> None:
    by_query = client.get("/api/search", params={"query": "recall"}, headers=users.alice).json()
    by_q = client.get("/api/search", params={"q": "recall"}, headers=users.alice).json()
    assert by_q == by_query and [i["insight_id"] for i in by_q][0] == catalogue["tesla_recall"]
    both = client.get("/api/search", params={"query": "recall", "q": "반도체"}, headers=users.alice).json()
    assert both == by_query  # the contract's own name wins


@pytest.mark.parametrize(
    "query", ["", "query=", "q=", "query=" + "x" * 201, "q=" + "x" * 201, "query=apple&limit=0", "limit=5"]
)
def test_search_needs_a_query(client: TestClient, users: ApiUsers, query: str) -> None:
    detail = error(client.get(f"/api/search?{query}", headers=users.alice), 422)
    assert detail.startswith(("query", "q", "limit"))


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


def test_a_cache_miss_survives_the_server_dropping_its_pooled_connections(
    client: TestClient, users: ApiUsers, catalogue: dict[str, str], api_settings: Settings
) -> None:
    """Misses read through pools without pre-ping (`read_retrying`, `read_on_loop`): a
    connection PostgreSQL dropped (a restart) fails its statement, and the read runs again on a
    fresh one."""
    from sqlalchemy import create_engine, text

    from stockteacher.store.db import normalise_dsn

    def detail(name: str) -> str:
        return str(client.get(f"/api/reports/{catalogue[name]}", headers=users.alice).json()["insight_id"])

    assert detail("apple_up") == catalogue["apple_up"]  # in the thread pool (favourites not cached yet)
    assert detail("apple_late") == catalogue["apple_late"]  # on the event loop
    killer = create_engine(normalise_dsn(api_settings.dsn), poolclass=None)
    with killer.connect() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    killer.dispose()
    assert dropped
    for name in ("apple_down", "samsung"):  # misses on the event loop, on its pool's dead connection
        assert detail(name) == catalogue[name]
    tesla = ids(client.get("/api/reports?tickers=TSLA", headers=users.alice))  # a miss in the thread pool
    assert tesla == [catalogue["tesla_recall"], catalogue["tesla_delivery"]]

"""The feeds over HTTP on PostgreSQL: a ticker's feed in RSS, Atom and JSON Feed read back with
feedparser (and as JSON), ETags and 304s, and the private feed's token from birth to revocation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient

from tests.factories.api import ApiUsers, error

pytestmark = pytest.mark.usefixtures("report_cache_guard")

MakeReports = Callable[[list[dict[str, Any]]], list[str]]
DAY = datetime(2025, 3, 3, 9, tzinfo=UTC)
BASE = "http://127.0.0.1:8000"  # PUBLIC_BASE_URL's default
SAMSUNG_HEADLINE = "삼성전자, 반도체 수출 둔화 우려에 급락"
SAMSUNG_SUMMARY = "삼성전자 주가가 반도체 수출 둔화 우려로 장중 6% 넘게 떨어졌습니다."


@pytest.fixture
def samsung(make_reports: MakeReports) -> list[str]:
    """Three published 삼성전자 reports (ids newest first), a draft, a hidden one, and one of SK하이닉스."""
    rows = [
        {"ticker": "005930.KS", "published_at": DAY, "headline": "삼성전자 배당 확대", "sentiment_score": 0.7},
        {
            "ticker": "005930.KS",
            "published_at": DAY + timedelta(hours=2),
            "headline": SAMSUNG_HEADLINE,
            "summary_text": SAMSUNG_SUMMARY,
            "sentiment_score": -0.72,
            "tags": ["negative", "urgent"],
        },
        {"ticker": "005930.KS", "published_at": DAY + timedelta(hours=1), "headline": "삼성전자 보합"},
        {"ticker": "005930.KS", "published_at": DAY + timedelta(hours=3), "status": "draft"},
        {"ticker": "005930.KS", "published_at": DAY + timedelta(hours=4), "status": "hidden"},
        {"ticker": "000660.KS", "published_at": DAY + timedelta(hours=5), "headline": "SK하이닉스 신고가"},
    ]
    ids = make_reports([{**row, "locale": "ko_KR"} for row in rows])
    return [ids[1], ids[2], ids[0]]


def _parsed(client: TestClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


# --- a ticker's feed ------------------------------------------------------------------------
def test_the_rss_feed_lists_published_reports_newest_first_in_korean(client: TestClient, samsung: list[str]) -> None:
    response = client.get("/feeds/005930.KS.rss")
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert parsed.version == "rss20" and not parsed.bozo
    assert parsed.feed.title == "StockTeacher · 삼성전자 (005930.KS)"
    assert parsed.feed.language == "ko"
    assert parsed.feed.link == f"{BASE}/"
    assert [e.id for e in parsed.entries] == samsung  # no draft, no hidden, no other ticker
    newest = parsed.entries[0]
    assert newest.guidislink is False
    assert newest.title == SAMSUNG_HEADLINE and newest.summary == SAMSUNG_SUMMARY
    assert newest.link == f"{BASE}/#report={samsung[0]}"
    assert [t.term for t in newest.tags] == ["005930.KS", "매우 부정적", "negative", "urgent"]
    assert newest.published_parsed[:5] == (2025, 3, 3, 11, 0)
    assert [t.term for t in parsed.entries[2].tags] == ["005930.KS", "매우 긍정적"]


def test_the_atom_feed_says_the_same(client: TestClient, samsung: list[str]) -> None:
    response = client.get("/feeds/005930.KS.atom")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert parsed.version == "atom10" and not parsed.bozo
    assert parsed.feed.title == "StockTeacher · 삼성전자 (005930.KS)"
    assert parsed.feed.language == "ko"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links == {"self": f"{BASE}/feeds/005930.KS.atom", "alternate": f"{BASE}/"}
    assert [e.id for e in parsed.entries] == [f"urn:stockteacher:report:{i}" for i in samsung]
    newest = parsed.entries[0]
    assert newest.title == SAMSUNG_HEADLINE and newest.summary == SAMSUNG_SUMMARY
    assert newest.content[0].value.startswith(SAMSUNG_SUMMARY) and "https://news.example/a" in newest.content[0].value
    assert newest.link == f"{BASE}/#report={samsung[0]}"
    assert "매우 부정적" in [t.term for t in newest.tags]
    assert newest.updated_parsed[:5] == (2025, 3, 3, 11, 0)


def test_the_json_feed_has_every_required_field(client: TestClient, samsung: list[str]) -> None:
    response = client.get("/feeds/005930.KS.json")
    assert response.headers["content-type"] == "application/feed+json; charset=utf-8"
    assert SAMSUNG_HEADLINE.encode() in response.content  # UTF-8, not \u escapes
    body = response.json()
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert body["title"] == "StockTeacher · 삼성전자 (005930.KS)"
    assert body["home_page_url"] == f"{BASE}/" and body["feed_url"] == f"{BASE}/feeds/005930.KS.json"
    assert body["language"] == "ko"
    assert [item["id"] for item in body["items"]] == samsung
    for item in body["items"]:
        assert isinstance(item["id"], str) and isinstance(item["content_text"], str) and item["content_text"]
        assert isinstance(item["tags"], list) and all(isinstance(t, str) for t in item["tags"])
        assert datetime.fromisoformat(item["date_published"]).utcoffset() == timedelta(0)
    newest = body["items"][0]
    assert newest["title"] == SAMSUNG_HEADLINE and newest["summary"] == SAMSUNG_SUMMARY
    assert newest["url"] == f"{BASE}/#report={samsung[0]}" and newest["language"] == "ko"
    assert newest["date_published"] == "2025-03-03T11:00:00Z"
    assert newest["tags"] == ["005930.KS", "매우 부정적", "negative", "urgent"]


def test_an_english_feed_is_in_english(client: TestClient, make_reports: MakeReports) -> None:
    make_reports([{"ticker": "AAPL", "published_at": DAY, "sentiment_score": 0.3}])  # locale en_US
    parsed = _parsed(client, "/feeds/aapl.rss")  # any letter case
    assert parsed.feed.title == "StockTeacher · Apple (AAPL)" and parsed.feed.language == "en"
    assert [t.term for t in parsed.entries[0].tags] == ["AAPL", "positive"]


def test_a_ticker_with_no_reports_has_an_empty_valid_feed(client: TestClient, samsung: list[str]) -> None:
    for fmt in ("rss", "atom"):
        parsed = _parsed(client, f"/feeds/TSLA.{fmt}")
        assert parsed.entries == [] and parsed.feed.title == "StockTeacher · 테슬라 (TSLA)"
    response = client.get("/feeds/TSLA.json")
    assert response.status_code == 200 and response.json()["items"] == []
    assert "last-modified" not in response.headers and response.headers["etag"]


def test_the_feed_keeps_to_feed_max_items(
    make_settings: Callable[..., Any], pg_dsn: str, make_reports: MakeReports
) -> None:
    from stockteacher.api.app import create_app

    ids = make_reports([{"ticker": "AAPL", "published_at": DAY + timedelta(minutes=n)} for n in range(5)])
    small = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", feed_max_items=2)
    with TestClient(create_app(small)) as client:
        assert [item["id"] for item in client.get("/feeds/AAPL.json").json()["items"]] == ids[:-3:-1]


@pytest.mark.parametrize("path", ["/feeds/AA$PL.rss", "/feeds/-AAPL.atom", "/feeds/ABCDEFGHIJKLMNOPQ.json"])
def test_a_malformed_ticker_is_a_422(client: TestClient, path: str) -> None:
    assert "ticker" in error(client.get(path), 422)


@pytest.mark.parametrize("path", ["/feeds/AAPL.xml", "/feeds/AAPL", "/feeds/user/stf_x.txt"])
def test_another_extension_is_a_404(client: TestClient, path: str) -> None:
    error(client.get(path), 404)


# --- caching ----------------------------------------------------------------------------------
def test_a_current_etag_is_answered_with_a_304(client: TestClient, samsung: list[str]) -> None:
    first = client.get("/feeds/005930.KS.rss")
    tag = first.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert first.headers["cache-control"] == "public, max-age=300"
    assert first.headers["last-modified"] == "Mon, 03 Mar 2025 11:00:00 GMT"
    assert client.get("/feeds/005930.KS.rss").headers["etag"] == tag  # the same bytes, the same tag
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = client.get("/feeds/005930.KS.rss", headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b"" and again.headers["etag"] == tag
    assert client.get("/feeds/005930.KS.rss", headers={"If-None-Match": '"rss-stale"'}).status_code == 200
    others = {client.get(f"/feeds/005930.KS.{fmt}").headers["etag"] for fmt in ("atom", "json")}
    assert tag not in others and len(others) == 2  # each format is its own representation
    assert client.get("/feeds/005930.KS.atom", headers={"If-None-Match": tag}).status_code == 200


def test_a_new_report_changes_the_etag(client: TestClient, samsung: list[str], make_reports: MakeReports) -> None:
    tag = client.get("/feeds/005930.KS.json").headers["etag"]
    other_ticker = make_reports([{"ticker": "AAPL", "published_at": DAY + timedelta(days=1)}])
    assert client.get("/feeds/005930.KS.json").headers["etag"] == tag and other_ticker
    new_id = make_reports([{"ticker": "005930.KS", "published_at": DAY + timedelta(days=1), "locale": "ko_KR"}])[0]
    fresh = client.get("/feeds/005930.KS.json", headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != tag
    assert fresh.json()["items"][0]["id"] == new_id


def test_hiding_a_report_changes_the_etag(client: TestClient, users: ApiUsers, samsung: list[str]) -> None:
    tag = client.get("/feeds/005930.KS.atom").headers["etag"]
    hidden = client.patch(f"/api/reports/{samsung[0]}/status", headers=users.admin, json={"status": "hidden"})
    assert hidden.status_code == 200, hidden.text
    after = client.get("/feeds/005930.KS.atom", headers={"If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag
    assert [e.id for e in feedparser.parse(after.content).entries] == [
        f"urn:stockteacher:report:{i}" for i in samsung[1:]
    ]


# --- the private feed -------------------------------------------------------------------------
def _subscribe(client: TestClient, headers: dict[str, str], *tickers: str) -> None:
    for ticker in tickers:
        response = client.post("/api/subscriptions", headers=headers, json={"ticker": ticker})
        assert response.status_code == 201, response.text


def _new_token(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/feeds/token", headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_private_feed_lists_only_the_subscribed_tickers(
    client: TestClient, users: ApiUsers, samsung: list[str], make_reports: MakeReports
) -> None:
    aapl = make_reports([{"ticker": "AAPL", "published_at": DAY + timedelta(hours=6)}])
    _subscribe(client, users.alice, "005930.KS", "AAPL")
    _subscribe(client, users.bob, "000660.KS")
    made = _new_token(client, users.alice)
    token = made["token"]
    assert made["urls"] == {fmt: f"{BASE}/feeds/user/{token}.{fmt}" for fmt in ("rss", "atom", "json")}

    response = client.get(f"/feeds/user/{token}.json")  # no key: the token is the proof
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, max-age=300"
    assert [item["id"] for item in response.json()["items"]] == aapl + samsung  # no SK하이닉스 (bob's)
    parsed = _parsed(client, f"/feeds/user/{token}.rss")
    assert [e.id for e in parsed.entries] == aapl + samsung
    assert parsed.feed.title == "StockTeacher · 구독 종목" and parsed.feed.language == "ko"
    assert [e.id for e in _parsed(client, f"/feeds/user/{token}.atom").entries][
        0
    ] == f"urn:stockteacher:report:{aapl[0]}"

    bobs = _new_token(client, users.bob)["token"]
    assert [item["title"] for item in client.get(f"/feeds/user/{bobs}.json").json()["items"]] == ["SK하이닉스 신고가"]


def test_a_token_is_shown_once_and_its_use_is_noted(client: TestClient, users: ApiUsers) -> None:
    assert client.get("/api/feeds/token", headers=users.alice).json() == {
        "active": False,
        "created_at": None,
        "last_used_at": None,
    }
    made = _new_token(client, users.alice)
    status = client.get("/api/feeds/token", headers=users.alice).json()
    assert status == {"active": True, "created_at": made["created_at"], "last_used_at": None}
    assert "token" not in status
    assert client.get(f"/feeds/user/{made['token']}.rss").status_code == 200
    used = client.get("/api/feeds/token", headers=users.alice).json()["last_used_at"]
    assert used is not None
    assert client.get(f"/feeds/user/{made['token']}.json").status_code == 200
    assert client.get("/api/feeds/token", headers=users.alice).json()["last_used_at"] == used  # once a minute
    assert client.get("/api/feeds/token", headers=users.bob).json()["active"] is False


def test_only_the_tokens_sha256_is_stored(api_settings: Any, client: TestClient, users: ApiUsers) -> None:
    import hashlib

    from stockteacher.store.db import session_scope
    from stockteacher.store.models import FeedToken

    token = _new_token(client, users.alice)["token"]
    with session_scope(api_settings.dsn) as session:
        row = session.get(FeedToken, "alice")
        assert row is not None and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in {str(v) for v in vars(row).values()}


def test_a_revoked_token_is_a_404(client: TestClient, users: ApiUsers, samsung: list[str]) -> None:
    _subscribe(client, users.alice, "005930.KS")
    token = _new_token(client, users.alice)["token"]
    assert client.get(f"/feeds/user/{token}.atom").status_code == 200
    assert client.delete("/api/feeds/token", headers=users.alice).status_code == 204
    for fmt in ("rss", "atom", "json"):
        assert "token" in error(client.get(f"/feeds/user/{token}.{fmt}"), 404)
    assert client.get("/api/feeds/token", headers=users.alice).json()["active"] is False
    error(client.delete("/api/feeds/token", headers=users.alice), 404)


def test_a_new_token_replaces_the_old(client: TestClient, users: ApiUsers, samsung: list[str]) -> None:
    _subscribe(client, users.alice, "005930.KS")
    old = _new_token(client, users.alice)["token"]
    new = _new_token(client, users.alice)["token"]
    assert new != old
    error(client.get(f"/feeds/user/{old}.rss"), 404)
    assert [e.id for e in _parsed(client, f"/feeds/user/{new}.rss").entries] == samsung


def test_other_users_cannot_reach_or_revoke_a_token(client: TestClient, users: ApiUsers) -> None:
    token = _new_token(client, users.alice)["token"]
    error(client.delete("/api/feeds/token", headers=users.bob), 404)  # bob has none; alice's stays
    assert client.get(f"/feeds/user/{token}.json").status_code == 200
    for guess in ("stf_" + "A" * 43, token[:-1], "not-a-token", token.upper()):
        error(client.get(f"/feeds/user/{guess}.json"), 404)


def test_the_token_api_needs_a_key(client: TestClient) -> None:
    for method in ("GET", "POST", "DELETE"):
        error(client.request(method, "/api/feeds/token"), 401)


def test_a_disabled_users_feed_is_gone(api_settings: Any, client: TestClient, users: ApiUsers) -> None:
    from stockteacher.store.db import session_scope
    from stockteacher.store.models import User, utcnow

    token = _new_token(client, users.alice)["token"]
    with session_scope(api_settings.dsn) as session:
        user = session.get(User, "alice")
        assert user is not None
        user.disabled_at = utcnow()
    error(client.get(f"/feeds/user/{token}.rss"), 404)

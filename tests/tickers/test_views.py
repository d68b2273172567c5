"""`GET /api/tickers?q=` and subscribing by a company's name (API.md, planned additions)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.tickers import service
from tests.factories.api import ApiUsers, error

TICKER_FIELDS = {"ticker", "name_en", "name_ko", "exchange", "country", "aliases"}


def found(client: TestClient, users: ApiUsers, **params: object) -> list[str]:
    response = client.get("/api/tickers", params=params, headers=users.alice)
    assert response.status_code == 200, response.text
    assert all(set(item) == TICKER_FIELDS for item in response.json())
    return [item["ticker"] for item in response.json()]


def test_ticker_search_answers_the_contract_fields(client: TestClient, users: ApiUsers) -> None:
    response = client.get("/api/tickers", params={"q": "삼성전자"}, headers=users.alice)
    assert response.status_code == 200
    first = response.json()[0]
    assert first["ticker"] == "005930.KS" and first["name_ko"] == "삼성전자" and first["exchange"] == "KOSPI"
    assert first["name_en"] == "Samsung Electronics" and "삼성전자㈜" in first["aliases"] and first["country"] == "KR"


@pytest.mark.parametrize(
    ("q", "first"),
    [("aapl", "AAPL"), ("Apple", "AAPL"), ("애플", "AAPL"), ("삼성", "005930.KS"), ("hathaway", "BRK.B"), ("005930", "005930.KS")],
)  # fmt: skip
def test_ticker_search_ranks_symbol_name_alias_prefix(client: TestClient, users: ApiUsers, q: str, first: str) -> None:
    assert found(client, users, q=q)[0] == first


def test_ticker_search_limits_and_lists(client: TestClient, users: ApiUsers) -> None:
    assert len(found(client, users, q="삼성", limit=3)) == 3
    every = found(client, users, limit=50)
    assert len(every) == 50 and every == sorted(every)
    assert found(client, users, q="존재하지않는회사") == []


@pytest.mark.parametrize("params", [{"q": "x" * 101}, {"limit": 0}, {"limit": 51}])
def test_ticker_search_refuses_bad_parameters(client: TestClient, users: ApiUsers, params: dict[str, object]) -> None:
    error(client.get("/api/tickers", params=params, headers=users.alice), 422)


def test_ticker_search_needs_a_key(client: TestClient) -> None:
    error(client.get("/api/tickers", params={"q": "삼성"}), 401)


def test_ticker_search_sees_an_operators_addition(client: TestClient, users: ApiUsers, api_settings: Settings) -> None:
    assert found(client, users, q="가나다") == []
    with session_scope(api_settings.dsn) as db:
        service.add(service.TickerAddition("999999.KQ", name_ko="가나다바이오"), db_session=db)
    assert found(client, users, q="가나다") == ["999999.KQ"]


# --- subscribing by name ---------------------------------------------------------------------
def post(client: TestClient, users: ApiUsers, ticker: str) -> object:
    return client.post("/api/subscriptions", headers=users.alice, json={"ticker": ticker, "alert_window": "weekly"})


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("삼성전자", "005930.KS"), ("삼성 전자", "005930.KS"), ("apple", "AAPL"), ("Samsung Electronics", "005930.KS"),
     ("제이피모건", "JPM"), ("PLTR", "PLTR")],
)  # fmt: skip
def test_subscribing_by_a_name_of_one_ticker(client: TestClient, users: ApiUsers, typed: str, stored: str) -> None:
    response = post(client, users, typed)
    assert response.status_code == 201, response.text
    assert response.json()["ticker"] == stored


@pytest.mark.parametrize(("typed", "expected"), [("Alphabet", {"GOOG", "GOOGL"}), ("삼성", None)])
def test_an_ambiguous_name_is_409_with_candidates(
    client: TestClient, users: ApiUsers, typed: str, expected: set[str] | None
) -> None:
    response = post(client, users, typed)
    detail = error(response, 409)
    candidates = response.json()["candidates"]
    assert all(set(c) == TICKER_FIELDS for c in candidates)
    symbols = [c["ticker"] for c in candidates]
    if expected is not None:
        assert set(symbols) == expected and "pick one" in detail
    else:
        assert symbols[0] == "005930.KS" and len(symbols) >= 5 and "did you mean" in detail
    assert client.get("/api/subscriptions", headers=users.alice).json() == []  # nothing was stored


def test_a_duplicate_by_name_is_409_without_candidates(client: TestClient, users: ApiUsers) -> None:
    assert post(client, users, "005930").status_code == 201
    response = post(client, users, "삼성전자")
    assert "005930.KS" in error(response, 409) and response.json().get("candidates", []) == []


@pytest.mark.parametrize("typed", ["존재하지않는회사", "AA PL", "A" * 16])
def test_an_unknown_name_is_404_and_says_how_to_search(client: TestClient, users: ApiUsers, typed: str) -> None:
    assert "/api/tickers?q=" in error(post(client, users, typed), 404)


@pytest.mark.parametrize("typed", ["$AAPL", "]", "삼성전자\n", " ", "A" * 101])
def test_what_cannot_be_a_name_is_422(client: TestClient, users: ApiUsers, typed: str) -> None:
    detail = error(post(client, users, typed), 422)
    assert "company's name" in detail or "at most 100 characters" in detail


def test_every_bundled_name_and_alias_can_be_sent() -> None:
    import re

    from stockteacher.core.fields import TICKER_OR_NAME_PATTERN
    from stockteacher.tickers.registry import all_tickers

    refused = [n for info in all_tickers() for n in (info.symbol, *info.names()) if not re.match(TICKER_OR_NAME_PATTERN, n)]
    assert refused == []

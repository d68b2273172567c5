"""The teacher knows what happened next: stored daily bars and outcomes as chat sources.

Bars come from the sample price source (stored by `refresh_prices`), the outcome from
`track.service.evaluate`; the turns go over the real HTTP chat API, offline (the answer is
made from the bars alone) and online (the local OpenAI-protocol server records the prompt).
"Now" is pinned to 2026-12-02 12:00 UTC, so the last closed US session is 1 Dec."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockteacher.chat import price_context
from stockteacher.chat.price_context import asks_about_prices
from stockteacher.prices.sample import SamplePriceSource
from stockteacher.prices.service import load_bars, refresh_prices, symbols_for
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from tests.factories.api import ApiUsers
from tests.factories.chat import new_session

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
# Friday 20 Nov after the US close (21:00 UTC): day 0 is Monday 23 Nov.
PUBLISHED = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)
DAY0, DAY1, DAY5 = "2026-11-23", "2026-11-24", "2026-12-01"  # 26 Nov is Thanksgiving
QUESTION_KO = "이 뉴스 이후 주가는 어떻게 됐어요?"
CITE = re.compile(r"\[(\d+)\]")


@pytest.fixture(autouse=True)
def _pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_context, "utcnow", lambda: NOW)


def store_prices(settings: Settings) -> None:
    result = asyncio.run(
        refresh_prices(settings, SamplePriceSource(now=NOW), symbols_for(["AAPL"]), start=date(2026, 6, 1), now=NOW)
    )
    assert not result.errors and result.bars > 0


def adj_closes(settings: Settings, symbol: str) -> dict[str, float]:
    with session_scope(settings.dsn) as session:
        return {b.trading_date.isoformat(): b.adj_close for b in load_bars(session, symbol, date(2026, 11, 1))}


def closes(settings: Settings, symbol: str) -> dict[str, float]:
    with session_scope(settings.dsn) as session:
        return {b.trading_date.isoformat(): b.close for b in load_bars(session, symbol, date(2026, 11, 1))}


def pct(a0: float, a1: float) -> str:
    return f"{(a1 / a0 - 1) * 100:+.2f}%"


def ask(client: TestClient, headers: dict[str, str], session_id: str, question: str) -> dict[str, Any]:
    response = client.post(f"/api/chat/sessions/{session_id}/messages", json={"content": question}, headers=headers)
    assert response.status_code == 201, response.text
    user, agent = response.json()
    assert user["content"] == question and agent["sender"] == "agent"
    return dict(agent)


def test_the_question_is_recognised_in_korean_and_english() -> None:
    for question in (
        QUESTION_KO, "그 뒤로 올랐나요?", "떨어졌어요?", "What did the stock do after this news?",
        "What happened next?", "How did the price move?",
    ):  # fmt: skip
        assert asks_about_prices(question), question
    for question in ("EPS가 뭐예요?", "테슬라 리콜 안전벨트 문제가 뭐예요?", "Why did Tesla recall Model Y vehicles?"):
        assert not asks_about_prices(question), question


def test_offline_answer_gives_the_returns_from_the_stored_bars_and_cites_them(
    client: TestClient, users: ApiUsers, make_reports: Callable[..., list[str]], api_settings: Settings
) -> None:
    from stockteacher.track.service import evaluate

    store_prices(api_settings)
    (insight_id,) = make_reports([{"ticker": "AAPL", "published_at": PUBLISHED, "sentiment_score": 0.5}])
    assert evaluate(api_settings, now=NOW).outcomes_added == 2  # +1 and +5; +20 has not come
    stock, index = adj_closes(api_settings, "AAPL"), adj_closes(api_settings, "^GSPC")
    stock_close = closes(api_settings, "AAPL")

    agent = ask(client, users.alice, new_session(client, users.alice, insight_id), QUESTION_KO)
    text = agent["content"]
    assert text.startswith("오프라인 모드입니다")
    # the +1 and +5 day returns, from the stored adjusted closes, for the stock and the benchmark
    for end in (DAY1, DAY5):
        assert pct(stock[DAY0], stock[end]) in text and pct(index[DAY0], index[end]) in text
        excess = ((stock[end] / stock[DAY0] - 1) - (index[end] / index[DAY0] - 1)) * 100
        assert f"{excess:+.2f}%p" in text
    assert "1거래일 후(2026-11-24)" in text and "5거래일 후(2026-12-01)" in text
    assert "아직 20거래일이 지나지 않았어요" in text
    assert "투자 조언이 아닙니다" in text

    citations = agent["citations"]
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    assert {int(n) for n in CITE.findall(text)} == {c["n"] for c in citations}
    assert all(c["kind"] == "price" and c["url"] is None and c["article_id"] is None for c in citations)
    by_ref = {c["ref"]: c for c in citations}
    for symbol, day in (
        ("AAPL", DAY0),
        ("AAPL", DAY1),
        ("AAPL", DAY5),
        ("^GSPC", DAY0),
        ("^GSPC", DAY1),
        ("^GSPC", DAY5),
    ):
        cited = by_ref[f"price:{symbol}:{day}"]
        assert cited["symbol"] == symbol and cited["date"] == day and day in cited["title"]
    assert by_ref[f"price:AAPL:{DAY0}"]["title"] == f"AAPL {DAY0} 종가 {stock_close[DAY0]:,.2f} USD"
    # nothing before day 0 except the reference bar, which is labelled as such
    before = [c for c in citations if c["date"] < DAY0]
    assert [c["ref"] for c in before] == ["price:AAPL:2026-11-20"]
    (reference_line,) = [line for line in text.splitlines() if f"[{before[0]['n']}]" in line]
    assert "참고(발표 전 마지막 종가)" in reference_line
    assert all(c["date"] <= DAY5 for c in citations)  # nothing after the last closed session

    english = ask(
        client, users.alice, new_session(client, users.alice, insight_id), "What did the stock do after this news?"
    )
    assert english["content"].startswith("Offline mode")
    assert pct(stock[DAY0], stock[DAY1]) in english["content"]
    assert "20 trading days have not passed yet" in english["content"]
    assert english["citations"][0]["title"].startswith("AAPL 2026-11-20 close ")


def test_without_stored_bars_the_teacher_says_it_has_no_price_data(
    client: TestClient, users: ApiUsers, make_reports: Callable[..., list[str]]
) -> None:
    (insight_id,) = make_reports([{"ticker": "AAPL", "published_at": PUBLISHED, "sentiment_score": 0.5}])
    session_id = new_session(client, users.alice, insight_id)
    agent = ask(client, users.alice, session_id, QUESTION_KO)
    assert "저장된 주가 데이터가 없어서" in agent["content"] and "2026-11-23" in agent["content"]
    assert not re.search(r"[+-]\d+\.\d{2}%", agent["content"]) and agent["citations"] == []
    english = ask(client, users.alice, session_id, "What happened to the price after this?")
    assert "No price data is stored for this period" in english["content"] and english["citations"] == []


def test_online_prompt_holds_the_bars_and_the_instruction_to_cite_them(
    online: Callable[..., TestClient],
    users: ApiUsers,
    make_reports: Callable[..., list[str]],
    api_settings: Settings,
    llm_server: Any,
) -> None:
    from stockteacher.track.service import evaluate

    store_prices(api_settings)
    (insight_id,) = make_reports([{"ticker": "AAPL", "published_at": PUBLISHED, "sentiment_score": 0.5}])
    evaluate(api_settings, now=NOW)
    stock, index = adj_closes(api_settings, "AAPL"), adj_closes(api_settings, "^GSPC")
    stock_close = closes(api_settings, "AAPL")
    client = online()
    session_id = new_session(client, users.alice, insight_id)

    sent_context = None
    llm_server.default_content = "placeholder"
    ask(client, users.alice, session_id, "What did the stock do after this news?")
    sent = llm_server.chat_requests[-1].messages
    rules, sent_context = sent[0]["content"], sent[1]["content"]
    assert "cite the price lines you use" in rules and "Never invent prices" in rules
    assert "investment advice" in rules
    lines = sent_context.splitlines()
    numbered = {m.group(2): int(m.group(1)) for line in lines if (m := re.match(r"\[(\d+)\] (\S+ \S+) ", line))}
    # the reference bar (labelled), then every session from day 0 to the last closed one, both symbols
    assert numbered["AAPL 2026-11-20"] == 1 and numbered["^GSPC 2026-11-20"] == 2
    reference = next(line for line in lines if line.startswith("[1] "))
    assert "reference: the last close before publication" in reference
    days = [DAY0, DAY1, "2026-11-25", "2026-11-27", "2026-11-30", DAY5]
    assert [d for d in sorted({k.split()[1] for k in numbered}) if d >= DAY0] == days
    assert f"[{numbered['AAPL ' + DAY0]}] AAPL {DAY0} close {stock_close[DAY0]:,.2f} USD (day 0" in sent_context
    assert "day 0 = 2026-11-23" in sent_context and "data through 2026-12-01" in sent_context
    assert pct(stock[DAY0], stock[DAY1]) in sent_context and pct(index[DAY0], index[DAY5]) in sent_context
    assert "20 trading days have not passed yet" in sent_context

    # the model's citations of bars come back as price citations
    n0, n5 = numbered["AAPL " + DAY0], numbered["AAPL " + DAY5]
    llm_server.default_content = f"From {DAY0} [{n0}] to {DAY5} [{n5}] the stock moved {pct(stock[DAY0], stock[DAY5])}."
    agent = ask(client, users.alice, session_id, "And over the week after?")
    assert [(c["n"], c["kind"], c["ref"]) for c in agent["citations"]] == [
        (n0, "price", f"price:AAPL:{DAY0}"),
        (n5, "price", f"price:AAPL:{DAY5}"),
    ]


def test_online_prompt_without_bars_says_there_is_no_price_data(
    online: Callable[..., TestClient],
    users: ApiUsers,
    make_reports: Callable[..., list[str]],
    llm_server: Any,
) -> None:
    (insight_id,) = make_reports([{"ticker": "AAPL", "published_at": PUBLISHED, "sentiment_score": 0.5}])
    client = online()
    ask(client, users.alice, new_session(client, users.alice, insight_id), "What did the stock do after this news?")
    context = llm_server.chat_requests[-1].messages[1]["content"]
    assert "no price data is stored for this period" in context and "never invent prices" in context
    assert not re.search(r"^\[\d+\] AAPL ", context, re.MULTILINE)

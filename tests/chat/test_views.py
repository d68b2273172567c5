"""Chat (API.md "Chat"): sessions, turns over JSON, SSE and WebSocket, grounding in the report
and retrieved articles, history cut, cost cap and daily budget, every WebSocket error code
from its real cause, offline answers, and cancellation of the LLM call when the client leaves.

Reports come from the real sample pipeline (offline analyzer) on the session's PostgreSQL;
online chat talks to the local OpenAI-protocol server (`llm_server`) through the official
`openai` client. Timing and disconnect tests over SSE run the app under uvicorn on
127.0.0.1 (Starlette's TestClient buffers HTTP responses); WebSocket tests use the TestClient,
which relays frames as they are sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.websockets import WebSocketDisconnect

from stockteacher.analysis.cost import cost_usd, price_for
from stockteacher.api.app import create_app
from stockteacher.chat.engine import ChatEngine
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article, ChatMessage, ChatSession, JobRun, Report, utcnow
from tests.factories.api import ApiUsers, detail
from tests.factories.chat import new_session, online_settings
from tests.servers.openai_server import Reply, estimate_prompt_tokens

pytestmark = pytest.mark.timeout(60)

ANSWER = "EPS는 주당순이익입니다 [1]. 회사가 번 돈을 주식 수로 나눈 값이에요 [2]. 투자 조언은 아닙니다."
SESSION_FIELDS = {"session_id", "insight_id", "user_id", "status", "started_at", "updated_at"}
MESSAGE_FIELDS = {"message_id", "session_id", "sender", "content", "created_at"}


# --- fixtures and helpers --------------------------------------------------------------------
@pytest.fixture
def aapl(reports: list[str], api_settings: Settings) -> str:
    """The published AAPL report (made by the sample pipeline with the offline analyzer)."""
    with session_scope(api_settings.dsn) as session:
        return session.execute(
            select(Report.insight_id).where(Report.insight_id.in_(reports), Report.ticker == "AAPL")
        ).scalar_one()


def messages(client: TestClient, headers: dict[str, str], session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/chat/sessions/{session_id}/messages", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def ws_turn(ws: Any, content: str) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    """Send one question; the chunks with their arrival times, and the closing frame."""
    ws.send_text(json.dumps({"type": "message", "content": content}))
    chunks: list[tuple[str, float]] = []
    while True:
        frame = ws.receive_json()
        if frame["type"] == "chunk":
            chunks.append((frame["content"], time.monotonic()))
        else:
            return chunks, {**frame, "at": time.monotonic()}


def ws_error(ws: Any, raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        ws.send_bytes(raw)
    else:
        ws.send_text(raw)
    frame = ws.receive_json()
    assert frame["type"] == "error", frame
    assert frame["trace_id"] and frame["detail"], frame
    return dict(frame)


def ws_url(session_id: str) -> str:
    return f"/api/chat/ws/{session_id}"


def article_ids(settings: Settings, ticker: str) -> set[int]:
    with session_scope(settings.dsn) as session:
        return set(session.execute(select(Article.id).where(Article.ticker == ticker)).scalars())


def set_report_status(settings: Settings, insight_id: str, status: str) -> None:
    with session_scope(settings.dsn) as session:
        session.execute(update(Report).where(Report.insight_id == insight_id).values(status=status))


def add_messages(settings: Settings, session_id: str, user_id: str, rows: list[dict[str, Any]]) -> None:
    """Insert chat messages directly (history, or spend), in order."""
    with session_scope(settings.dsn) as session:
        for row in rows:
            session.add(
                ChatMessage(
                    message_id=f"msg_{uuid.uuid4().hex[:12]}",
                    session_id=session_id,
                    user_id=user_id,
                    citations=[],
                    created_at=row.pop("created_at", utcnow()),
                    **row,
                )
            )
            session.flush()


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 (a free port), for real streaming; its base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, name="uvicorn-chat-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any], float]]:
    event = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event:
            yield event, json.loads(line.split(":", 1)[1]), time.monotonic()
            event = None


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- sessions --------------------------------------------------------------------------------
def test_a_session_starts_with_the_reports_summary(
    client: TestClient, users: ApiUsers, aapl: str, api_settings: Settings
) -> None:
    response = client.post("/api/chat/sessions", json={"insight_id": aapl}, headers=users.alice)
    assert response.status_code == 201, response.text
    session = response.json()
    assert set(session) == SESSION_FIELDS
    assert session["session_id"].startswith("chat_") and len(session["session_id"]) == len("chat_") + 12
    assert session["insight_id"] == aapl and session["user_id"] == "alice" and session["status"] == "Initiated"
    with session_scope(api_settings.dsn) as db:
        report = db.get(Report, aapl)
        assert report is not None
        headline, summary = report.headline, report.summary_text
    (first,) = messages(client, users.alice, session["session_id"])
    assert MESSAGE_FIELDS <= set(first) and first["sender"] == "system"
    assert first["message_id"].startswith("msg_") and first["session_id"] == session["session_id"]
    assert headline in first["content"] and summary in first["content"]


def test_session_errors(client: TestClient, users: ApiUsers, aapl: str) -> None:
    assert client.post("/api/chat/sessions", json={"insight_id": aapl}).status_code == 401
    unknown = client.post("/api/chat/sessions", json={"insight_id": "ins_nope"}, headers=users.alice)
    assert unknown.status_code == 404 and "not found" in detail(unknown)
    for body in ({}, {"insight_id": 5}, {"insight_id": aapl, "extra": 1}, {"insight_id": ""}, [aapl]):
        bad = client.post("/api/chat/sessions", json=body, headers=users.alice)
        assert bad.status_code == 422, (body, bad.text)
        assert detail(bad)
    assert client.get("/api/chat/sessions/chat_000000000000/messages", headers=users.alice).status_code == 404


def test_hidden_reports_are_not_chattable_for_users(
    client: TestClient, users: ApiUsers, aapl: str, api_settings: Settings
) -> None:
    set_report_status(api_settings, aapl, "hidden")
    response = client.post("/api/chat/sessions", json={"insight_id": aapl}, headers=users.alice)
    assert response.status_code == 404 and detail(response)
    assert client.post("/api/chat/sessions", json={"insight_id": aapl}, headers=users.admin).status_code == 201


def test_another_users_session_is_404_on_every_route(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    url = f"/api/chat/sessions/{session_id}/messages"
    assert client.get(url, headers=users.bob).status_code == 404
    posted = client.post(url, json={"content": "EPS가 뭐예요?"}, headers=users.bob)
    assert posted.status_code == 404 and "not found" in detail(posted)
    sse = client.post(url, json={"content": "EPS가 뭐예요?"}, headers={**users.bob, "Accept": "text/event-stream"})
    assert sse.status_code == 404 and sse.headers["content-type"].startswith("application/json") and detail(sse)
    for who, target in ((users.bob, session_id), (users.alice, "chat_ffffffffffff")):
        with client.websocket_connect(ws_url(target), headers=who) as ws:
            frame = ws.receive_json()
            assert frame["type"] == "error" and frame["code"] == "session_not_found" and frame["trace_id"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4404
    assert llm_server.calls == 0
    assert [m["sender"] for m in messages(client, users.alice, session_id)] == ["system"]  # nothing stored for bob


def test_websocket_without_a_valid_key_is_closed_as_a_policy_violation(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    for headers in ({}, {"Authorization": "Bearer stk_nope_nope"}):
        with client.websocket_connect(ws_url(session_id), headers=headers) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1008
    token = users.alice["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(ws_url(session_id) + f"?access_token={token}") as ws:  # browsers
        chunks, end = ws_turn(ws, "EPS가 뭐예요?")
        assert end["type"] == "done" and chunks


# --- a turn over JSON ------------------------------------------------------------------------
def test_json_turn_stores_the_question_and_the_grounded_answer(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any, api_settings: Settings
) -> None:
    llm_server.default_content = ANSWER
    client = online()
    session_id = new_session(client, users.alice, aapl)
    response = client.post(
        f"/api/chat/sessions/{session_id}/messages", json={"content": "  EPS가 뭐예요?  "}, headers=users.alice
    )
    assert response.status_code == 201, response.text
    user, agent = response.json()
    assert user["sender"] == "user" and user["content"] == "EPS가 뭐예요?"
    assert agent["sender"] == "agent" and agent["content"] == ANSWER
    assert [c["n"] for c in agent["citations"]] == [1, 2]
    assert {c["article_id"] for c in agent["citations"]} <= article_ids(api_settings, "AAPL")
    assert all(c["url"].startswith("http") and c["title"] for c in agent["citations"])
    # the cost is the fake's reported usage at the model's price
    request = llm_server.chat_requests[-1]
    assert request.stream and request.body["stream_options"] == {"include_usage": True}
    expected = cost_usd(price_for("gpt-4o-mini"), estimate_prompt_tokens(request.body), len(ANSWER) // 4)
    assert agent["cost_usd"] == pytest.approx(expected) and agent["cost_usd"] > 0
    stored = messages(client, users.alice, session_id)
    assert [m["sender"] for m in stored] == ["system", "user", "agent"]
    assert stored[1]["message_id"] == user["message_id"] and stored[2]["message_id"] == agent["message_id"]
    with session_scope(api_settings.dsn) as db:
        session = db.get(ChatSession, session_id)
        row = db.execute(select(ChatMessage).where(ChatMessage.message_id == agent["message_id"])).scalar_one()
        assert session is not None and session.status == "Conversing" and session.updated_at >= session.started_at
        assert row.model == "gpt-4o-mini" and row.prompt_tokens > 0 and row.completion_tokens == len(ANSWER) // 4


def test_json_turn_errors_map_to_status_codes(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    url = f"/api/chat/sessions/{session_id}/messages"
    for body in ({"content": "   "}, {"content": "x" * 2001}):
        response = client.post(url, json=body, headers=users.alice)
        assert response.status_code == 422 and "content" in detail(response)
    for body in ({}, {"content": 3}, {"content": "hi", "extra": True}, {"content": "nul \u0000 inside"}):
        assert client.post(url, json=body, headers=users.alice).status_code == 422
    nul_session = client.post("/api/chat/sessions", json={"insight_id": "ins_\u0000"}, headers=users.alice)
    assert nul_session.status_code == 404  # PostgreSQL cannot store NUL: still a client error, not a 500
    assert client.get("/api/chat/sessions/chat_%00/messages", headers=users.alice).status_code == 404
    llm_server.script(Reply.server_error(), Reply.server_error())
    unavailable = client.post(url, json={"content": "EPS가 뭐예요?"}, headers=users.alice)
    assert unavailable.status_code == 503 and "llm_unavailable" in detail(unavailable)
    capped = online(chat_cost_limit_usd=1e-9)
    capped_response = capped.post(url, json={"content": "EPS가 뭐예요?"}, headers=users.alice)
    assert capped_response.status_code == 429 and "CHAT_COST_LIMIT_USD" in detail(capped_response)
    assert llm_server.calls == 2  # the cap refused before any call
    senders = [m["sender"] for m in messages(client, users.alice, session_id)]
    assert senders == ["system", "user", "system", "user", "system"]  # questions kept, failures noted


# --- streaming -------------------------------------------------------------------------------
def test_sse_streams_chunks_before_the_answer_is_complete(
    make_settings: Callable[..., Settings], pg_dsn: str, llm_server: Any, users: ApiUsers, aapl: str
) -> None:
    llm_server.default_content = ANSWER
    llm_server.stream_chunk_size = 6
    llm_server.stream_chunk_delay = 0.04
    with (
        served(online_settings(make_settings, pg_dsn, llm_server)) as base,
        httpx.Client(base_url=base, timeout=20) as http,
    ):
        session_id = http.post("/api/chat/sessions", json={"insight_id": aapl}, headers=users.alice).json()[
            "session_id"
        ]
        started = time.monotonic()
        chunks: list[tuple[str, float]] = []
        done: dict[str, Any] = {}
        with http.stream(
            "POST",
            f"/api/chat/sessions/{session_id}/messages",
            json={"content": "EPS가 뭐예요?"},
            headers={**users.alice, "Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 201
            assert response.headers["content-type"].startswith("text/event-stream")
            for event, data, at in sse_events(response):
                if event == "chunk":
                    chunks.append((data["content"], at))
                else:
                    assert event == "done", (event, data)
                    done = {**data, "at": at}
        assert len(chunks) >= 5
        assert chunks[0][1] - started < done["at"] - started - 0.2  # the first chunk came well before the end
        stored = http.get(f"/api/chat/sessions/{session_id}/messages", headers=users.alice).json()
    agent = stored[-1]
    assert agent["sender"] == "agent" and agent["message_id"] == done["message_id"]
    assert agent["content"] == "".join(c for c, _ in chunks) == ANSWER
    assert done["user_message_id"] == stored[-2]["message_id"] and stored[-2]["sender"] == "user"
    assert [c["n"] for c in done["citations"]] == [1, 2] and done["cost_usd"] == agent["cost_usd"] > 0


def test_sse_error_event_carries_code_and_trace_id(
    make_settings: Callable[..., Settings], pg_dsn: str, llm_server: Any, users: ApiUsers, aapl: str
) -> None:
    llm_server.script(Reply.unauthorized())
    with (
        served(online_settings(make_settings, pg_dsn, llm_server)) as base,
        httpx.Client(base_url=base, timeout=20) as http,
    ):
        session_id = http.post("/api/chat/sessions", json={"insight_id": aapl}, headers=users.alice).json()[
            "session_id"
        ]
        with http.stream(
            "POST",
            f"/api/chat/sessions/{session_id}/messages",
            json={"content": "EPS가 뭐예요?"},
            headers={**users.alice, "Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 201, response.read()
            events = [(event, data) for event, data, _ in sse_events(response)]
    assert [e for e, _ in events] == ["error"]
    error = events[0][1]
    assert error["code"] == "llm_unavailable" and error["trace_id"] and "auth_error" in error["detail"]
    assert llm_server.calls == 1  # 401 is not retried


def test_websocket_streams_and_stores_exactly_what_was_streamed(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any
) -> None:
    llm_server.default_content = ANSWER
    llm_server.stream_chunk_size = 6
    llm_server.stream_chunk_delay = 0.04
    client = online()
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        started = time.monotonic()
        chunks, done = ws_turn(ws, "EPS가 뭐예요?")
        assert done["type"] == "done" and done["message_id"].startswith("msg_")
        assert len(chunks) >= 5 and chunks[0][1] - started < done["at"] - started - 0.2
        llm_server.default_content = "두 번째 답입니다 [1]."
        again, second = ws_turn(ws, "또 물어봐도 돼요?")  # the same socket takes the next question
        assert second["type"] == "done"
    stored = messages(client, users.alice, session_id)
    assert [m["sender"] for m in stored] == ["system", "user", "agent", "user", "agent"]
    assert (
        stored[2]["content"] == "".join(c for c, _ in chunks) == ANSWER
        and stored[2]["message_id"] == done["message_id"]
    )
    assert stored[4]["content"] == "".join(c for c, _ in again) == "두 번째 답입니다 [1]."


# --- WebSocket errors, each from its cause ---------------------------------------------------
def test_bad_frames_get_error_frames_and_the_socket_stays_usable(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        assert ws_error(ws, "{not json")["code"] == "invalid_input"
        assert ws_error(ws, "[1, 2]")["code"] == "invalid_input"
        assert ws_error(ws, b"\x00\x01")["code"] == "invalid_input"
        assert ws_error(ws, json.dumps({"type": "ping"}))["code"] == "invalid_type"
        assert ws_error(ws, json.dumps({"content": "no type"}))["code"] == "invalid_type"
        assert ws_error(ws, json.dumps({"type": "message", "content": "   "}))["code"] == "invalid_input"
        assert ws_error(ws, json.dumps({"type": "message", "content": 42}))["code"] == "invalid_input"
        assert ws_error(ws, json.dumps({"type": "message", "content": "a\u0000b"}))["code"] == "invalid_input"
        too_long = ws_error(ws, json.dumps({"type": "message", "content": "가" * 2001}))
        assert too_long["code"] == "invalid_input" and "2000" in too_long["detail"]
        assert llm_server.calls == 0
        chunks, done = ws_turn(ws, "EPS가 뭐예요?")
        assert done["type"] == "done" and chunks
    assert [m["sender"] for m in messages(client, users.alice, session_id)] == ["system", "user", "agent"]


def test_report_not_found_once_the_report_is_withdrawn(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, api_settings: Settings, llm_server: Any
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        set_report_status(api_settings, aapl, "hidden")
        assert ws_error(ws, json.dumps({"type": "message", "content": "EPS가 뭐예요?"}))["code"] == "report_not_found"
        set_report_status(api_settings, aapl, "published")
        _, done = ws_turn(ws, "EPS가 뭐예요?")  # still open, and answering once the report is back
        assert done["type"] == "done"
    set_report_status(api_settings, aapl, "hidden")
    response = client.post(f"/api/chat/sessions/{session_id}/messages", json={"content": "EPS?"}, headers=users.alice)
    assert response.status_code == 404 and "no longer available" in detail(response)
    assert llm_server.calls == 1


def test_cost_limit_per_message(online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any) -> None:
    client = online(chat_cost_limit_usd=1e-6)
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        error = ws_error(ws, json.dumps({"type": "message", "content": "EPS가 뭐예요?"}))
        assert error["code"] == "cost_limit" and "CHAT_COST_LIMIT_USD" in error["detail"]
    assert llm_server.calls == 0
    stored = messages(client, users.alice, session_id)
    assert [m["sender"] for m in stored] == ["system", "user", "system"] and "cost_limit" in stored[-1]["content"]


def test_daily_budget_counts_todays_spend_only(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any, api_settings: Settings
) -> None:
    client = online(chat_daily_budget_usd=0.05)
    session_id = new_session(client, users.alice, aapl)
    yesterday = utcnow() - timedelta(days=1, hours=1)
    add_messages(
        api_settings,
        session_id,
        "alice",
        [{"sender": "agent", "content": "old", "cost_usd": 5.0, "created_at": yesterday}],
    )
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        _, done = ws_turn(ws, "EPS가 뭐예요?")
        assert done["type"] == "done"  # yesterday's spend does not count
        add_messages(api_settings, session_id, "alice", [{"sender": "agent", "content": "today", "cost_usd": 0.0499}])
        error = ws_error(ws, json.dumps({"type": "message", "content": "EPS가 뭐예요?"}))
        assert error["code"] == "cost_limit" and "CHAT_DAILY_BUDGET_USD" in error["detail"]
    assert llm_server.calls == 1
    # the budget that stopped work left a job_runs row under the turn's trace id
    with session_scope(api_settings.dsn) as db:
        run = db.execute(select(JobRun).where(JobRun.stage == "chat")).scalar_one()
        assert (run.status, run.error_code, run.trace_id) == ("FAILED", "daily_budget", error["trace_id"])
        assert run.details["user_id"] == "alice"
    # bob's budget is his own
    bob_session = new_session(client, users.bob, aapl)
    assert (
        client.post(
            f"/api/chat/sessions/{bob_session}/messages", json={"content": "EPS?"}, headers=users.bob
        ).status_code
        == 201
    )


def test_llm_unavailable_after_one_retry_and_recovery(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        llm_server.script(Reply.server_error(), Reply.server_error())
        error = ws_error(ws, json.dumps({"type": "message", "content": "EPS가 뭐예요?"}))
        assert error["code"] == "llm_unavailable" and llm_server.calls == 2
        llm_server.script(Reply.unauthorized())
        assert ws_error(ws, json.dumps({"type": "message", "content": "EPS?"}))["code"] == "llm_unavailable"
        assert llm_server.calls == 3  # an auth error is not retried
        llm_server.script(Reply.rate_limited(retry_after=0.1))
        _, done = ws_turn(ws, "EPS가 뭐예요?")  # one transient failure: retried, answered
        assert done["type"] == "done" and llm_server.calls == 5
    senders = [m["sender"] for m in messages(client, users.alice, session_id)]
    assert senders == ["system", "user", "system", "user", "system", "user", "agent"]


def test_internal_error_when_the_chat_backend_cannot_read_the_articles(
    online: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    pg_dsn: str,
    llm_server: Any,
    users: ApiUsers,
    aapl: str,
) -> None:
    # a chat replica whose database went away: retrieval fails inside the engine
    broken = ChatEngine(online_settings(make_settings, "postgresql+psycopg://postgres@127.0.0.1:1/gone", llm_server))
    client = online(chat_backend=broken)
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        error = ws_error(ws, json.dumps({"type": "message", "content": "EPS가 뭐예요?"}))
        assert error["code"] == "internal_error"
    response = client.post(f"/api/chat/sessions/{session_id}/messages", json={"content": "EPS?"}, headers=users.alice)
    assert response.status_code == 500 and "internal_error" in detail(response) and "trace_id" in detail(response)
    assert llm_server.calls == 0


# --- grounding -------------------------------------------------------------------------------
def test_prompt_holds_the_report_the_passages_and_at_most_max_turns_of_history(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any, api_settings: Settings
) -> None:
    client = online()
    session_id = new_session(client, users.alice, aapl)
    history = [{"sender": "user" if i % 2 == 0 else "agent", "content": f"turn-{i:02d}"} for i in range(30)]
    add_messages(api_settings, session_id, "alice", history)
    question = "What does the EU antitrust probe over App Store fees mean?"
    response = client.post(f"/api/chat/sessions/{session_id}/messages", json={"content": question}, headers=users.alice)
    assert response.status_code == 201, response.text
    sent = llm_server.chat_requests[-1].messages
    assert sent[0]["role"] == "system" and "investment advice" in sent[0]["content"] and "English" in sent[0]["content"]
    with session_scope(api_settings.dsn) as db:
        report = db.get(Report, aapl)
        assert report is not None
        summary = report.summary_text
        titles = {
            a.title
            for a in db.execute(select(Article).where(Article.ticker == "AAPL")).scalars()
            if "antitrust" in a.title.lower()
        }
    context = sent[1]["content"]
    assert summary in context and "[1] " in context
    assert any(title in context.split("[1] ", 1)[1].split("\n", 1)[0] for title in titles)  # best passage first
    kept = [m["content"] for m in sent[2:-1]]
    assert kept == [f"turn-{i:02d}" for i in range(10, 30)]  # CHAT_MAX_TURNS = 20, the latest ones
    assert [m["role"] for m in sent[2:4]] == ["user", "assistant"]
    assert sent[-1] == {"role": "user", "content": question}


def test_offline_chat_says_so_and_cites_retrieved_articles(
    client: TestClient, users: ApiUsers, reports: list[str], api_settings: Settings
) -> None:
    with session_scope(api_settings.dsn) as db:
        by_ticker = dict(
            db.execute(select(Report.ticker, Report.insight_id).where(Report.insight_id.in_(reports))).all()
        )
    session_id = new_session(client, users.alice, by_ticker["TSLA"])
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        chunks, done = ws_turn(ws, "테슬라 리콜 안전벨트 문제가 뭐예요?")
        assert done["type"] == "done" and len(chunks) > 3
        chunks_en, done_en = ws_turn(ws, "Why did Tesla recall Model Y vehicles over the seat belt warning?")
    korean, english = "".join(c for c, _ in chunks), "".join(c for c, _ in chunks_en)
    assert korean.startswith("오프라인 모드입니다") and english.startswith("Offline mode")
    stored = messages(client, users.alice, session_id)
    assert stored[2]["content"] == korean and stored[4]["content"] == english
    tsla_articles = article_ids(api_settings, "TSLA")
    for answer, end, agent in ((korean, done, stored[2]), (english, done_en, stored[4])):
        assert end["citations"] and end["cost_usd"] == 0 and agent["citations"] == end["citations"]
        assert {c["article_id"] for c in end["citations"]} <= tsla_articles
        title = end["citations"][0]["title"]
        assert "[1]" in answer and ("recall" in title.lower() or "리콜" in title)
    assert "리콜" in done["citations"][0]["title"]  # the Korean question finds the Korean article first


# --- the client leaves: the LLM call is cancelled --------------------------------------------
def test_sse_disconnect_cancels_the_llm_call(
    make_settings: Callable[..., Settings], pg_dsn: str, llm_server: Any, users: ApiUsers, aapl: str
) -> None:
    llm_server.default_content = "설명이 길게 이어집니다. " * 40  # ~90 chunks, ~4.5 s to the end
    llm_server.stream_chunk_size = 6
    llm_server.stream_chunk_delay = 0.05
    with (
        served(online_settings(make_settings, pg_dsn, llm_server)) as base,
        httpx.Client(base_url=base, timeout=20) as http,
    ):
        session_id = http.post("/api/chat/sessions", json={"insight_id": aapl}, headers=users.alice).json()[
            "session_id"
        ]
        with http.stream(
            "POST",
            f"/api/chat/sessions/{session_id}/messages",
            json={"content": "EPS가 뭐예요?"},
            headers={**users.alice, "Accept": "text/event-stream"},
        ) as response:
            seen = 0
            for event, _, _ in sse_events(response):
                seen += event == "chunk"
                if seen == 3:
                    break
        left = time.monotonic()
        assert wait_until(lambda: llm_server.streams_aborted == 1, timeout=3), "the LLM stream was not closed"
        assert time.monotonic() - left < 2
        assert llm_server.streams_completed == 0 and llm_server.stream_chunks_sent < 60
        assert wait_until(
            lambda: len(http.get(f"/api/chat/sessions/{session_id}/messages", headers=users.alice).json()) == 3
        )
        stored = http.get(f"/api/chat/sessions/{session_id}/messages", headers=users.alice).json()
        usage = http.get("/api/usage", headers=users.alice).json()
    assert [m["sender"] for m in stored] == ["system", "user", "system"]  # the question stays; no half answer
    assert "interrupted" in stored[-1]["content"]
    # The prompt and the tokens streamed before the client left are paid for, and counted:
    # in the daily budget and in the usage the user sees.
    cut_off = stored[-1]["cost_usd"]
    assert cut_off > 0
    assert usage["chat_spent_today_usd"] == pytest.approx(cut_off, abs=1e-6)
    assert sum(r["cost_usd"] for r in usage["rows"] if r["stage"] == "chat") == pytest.approx(cut_off, abs=1e-6)


def test_websocket_disconnect_cancels_the_llm_call(
    online: Callable[..., TestClient], users: ApiUsers, aapl: str, llm_server: Any
) -> None:
    llm_server.default_content = "설명이 길게 이어집니다. " * 40
    llm_server.stream_chunk_size = 6
    llm_server.stream_chunk_delay = 0.05
    client = online()
    session_id = new_session(client, users.alice, aapl)
    with client.websocket_connect(ws_url(session_id), headers=users.alice) as ws:
        ws.send_text(json.dumps({"type": "message", "content": "EPS가 뭐예요?"}))
        assert ws.receive_json()["type"] == "chunk"
        assert ws.receive_json()["type"] == "chunk"
    left = time.monotonic()
    assert wait_until(lambda: llm_server.streams_aborted == 1, timeout=3), "the LLM stream was not closed"
    assert time.monotonic() - left < 2 and llm_server.streams_completed == 0
    assert wait_until(lambda: len(messages(client, users.alice, session_id)) == 3)
    assert [m["sender"] for m in messages(client, users.alice, session_id)] == ["system", "user", "system"]


def test_engine_aclose_closes_the_openai_stream(
    make_settings: Callable[..., Settings], pg_dsn: str, llm_server: Any, aapl: str, api_settings: Settings
) -> None:
    """The contract the Serve deployment relies on: `aclose()` on the engine's generator."""
    import asyncio

    from stockteacher.publish.materialize import report_to_dict

    llm_server.default_content = "word " * 200
    llm_server.stream_chunk_size = 5
    llm_server.stream_chunk_delay = 0.05
    with session_scope(api_settings.dsn) as db:
        report = db.get(Report, aapl)
        assert report is not None
        request = {"report": report_to_dict(report), "history": [], "question": "EPS?", "user_id": "alice",
                   "spent_today_usd": 0.0, "locale": "en_US", "trace_id": "t-1"}  # fmt: skip
    engine = ChatEngine(online_settings(make_settings, pg_dsn, llm_server))

    async def two_chunks_then_leave() -> tuple[list[dict[str, Any]], bool]:
        events = engine.stream(request)
        got = [await events.__anext__(), await events.__anext__(), await events.__anext__()]
        await events.aclose()
        # while `events` is still referenced and the loop runs: no finaliser can do the closing
        for _ in range(150):
            if llm_server.streams_aborted:
                break
            await asyncio.sleep(0.02)
        return got, llm_server.streams_aborted == 1

    got, aborted = asyncio.run(two_chunks_then_leave())
    assert [e["type"] for e in got] == ["billing", "chunk", "chunk"]  # what the call costs so far, first
    assert got[0]["prompt_tokens"] > 0 and got[0]["price"] == [0.15, 0.6]
    assert aborted and llm_server.streams_completed == 0 and llm_server.stream_chunks_sent < 100


def test_openapi_documents_the_chat_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    create = paths["/api/chat/sessions"]["post"]["responses"]
    assert {"201", "404", "422"} <= set(create)
    post = paths["/api/chat/sessions/{session_id}/messages"]["post"]["responses"]
    assert {"201", "404", "422", "429", "503"} <= set(post)
    assert "text/event-stream" in post["201"]["content"] and "application/json" in post["201"]["content"]
    assert post["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    listing = paths["/api/chat/sessions/{session_id}/messages"]["get"]["responses"]
    assert {"200", "404"} <= set(listing)

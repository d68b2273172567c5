"""Chat routes (API.md "Chat"): sessions, messages as JSON or SSE, and the WebSocket; each turn
goes through `chat.turns.relay_turn`, whatever the transport."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, WebSocket, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from stockteacher.accounts.models import Principal
from stockteacher.api.auth import websocket_user
from stockteacher.api.deps import Caller, Db, ReadDb
from stockteacher.api.errors import documented
from stockteacher.chat import service
from stockteacher.chat.models import ChatMessageOut, ChatSessionIn, ChatSessionOut
from stockteacher.chat.service import ChatError, InvalidInput, PreparedTurn
from stockteacher.chat.turns import ChatBackend, close_stream, prepare, public, relay_turn
from stockteacher.logs import new_trace_id
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope

__all__ = ["ChatMessageIn", "chat_backend", "router"]

router = APIRouter(tags=["chat"])

STATUS_FOR_CODE = {
    "session_not_found": status.HTTP_404_NOT_FOUND,
    "report_not_found": status.HTTP_404_NOT_FOUND,
    "invalid_input": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "cost_limit": status.HTTP_429_TOO_MANY_REQUESTS,
    "llm_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
    "internal_error": status.HTTP_500_INTERNAL_SERVER_ERROR,
}
WS_CLOSE_UNKNOWN_SESSION = 4404
WS_CLOSE_POLICY = 1008
_CLOSED = object()

SESSION_404 = documented(404, "no such session of yours (`session_not_found`)")
SSE_DOC = (
    "With `Accept: text/event-stream` the answer streams as Server-Sent Events: `chunk` "
    '(data `{"content"}`) as it is written, then `done` (data `{"message_id", "user_message_id", '
    '"citations", "cost_usd"}`) or `error` (data `{"code", "detail", "trace_id"}`).'
)


POST_MESSAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": SSE_DOC, "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    **documented(404, "`session_not_found`, or `report_not_found` (deleted or hidden)"),
    **documented(422, "`invalid_input`: empty or too-long content, malformed body"),
    **documented(429, "`cost_limit`: over the per-message cap or the daily budget"),
    **documented(500, "`internal_error` (with a trace_id)"),
    **documented(503, "`llm_unavailable`: the model did not answer"),
}


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(examples=["EPS가 뭐예요?"], description="1 to CHAT_MAX_MESSAGE_CHARS characters")


_engine_lock = threading.Lock()


def chat_backend(app: Any) -> ChatBackend:
    """The app's chat backend; without one, an in-process `ChatEngine` made once per app."""
    backend = getattr(app.state, "chat_backend", None)
    if backend is not None:
        return backend  # type: ignore[no-any-return]
    with _engine_lock:
        engine = getattr(app.state, "default_chat_engine", None)
        if engine is None:
            from stockteacher.chat.engine import ChatEngine

            engine = app.state.default_chat_engine = ChatEngine(app.state.settings)
        return engine  # type: ignore[no-any-return]


# --- HTTP ------------------------------------------------------------------------------------
@router.post(
    "/api/chat/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=ChatSessionOut,
    responses=documented(404, "no such report (or hidden)"),
)
def create_session(body: ChatSessionIn, db: Db, caller: Caller) -> dict[str, Any]:
    """Start a chat about a report; its headline and summary are stored as the first message."""
    session = service.create_session(
        db_session=db, user_id=caller.user_id, insight_id=body.insight_id, is_admin=caller.is_admin
    )
    return service.session_to_dict(session)


@router.get("/api/chat/sessions/{session_id}/messages", response_model=list[ChatMessageOut], responses=SESSION_404)
def list_messages(session_id: str, db: ReadDb, caller: Caller) -> list[dict[str, Any]]:
    """The session's messages, oldest first."""
    rows = service.list_messages(db_session=db, user_id=caller.user_id, session_id=session_id)
    return [service.message_to_dict(m) for m in rows]


@router.post(
    "/api/chat/sessions/{session_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=list[ChatMessageOut],
    responses=POST_MESSAGE_RESPONSES,
)
async def post_message(
    session_id: str, body: Annotated[ChatMessageIn, Body()], request: Request, caller: Caller
) -> Any:
    """Ask the teacher: 201 `[user message, agent message]`, or, with `Accept: text/event-stream`,
    201 and the answer as SSE events (`chunk`, then `done` or `error`)."""
    settings: Settings = request.app.state.settings
    trace_id = new_trace_id()
    turn = await run_in_threadpool(prepare, settings, caller, session_id, body.content, trace_id)
    backend = chat_backend(request.app)
    if "text/event-stream" in request.headers.get("accept", ""):
        # 201 like the JSON answer: the user message is stored and the reply is being created
        return EventSourceResponse(_sse(settings, backend, turn), status_code=201, headers={"X-Trace-Id": trace_id})
    return await _json_answer(settings, backend, turn)


async def _json_answer(settings: Settings, backend: ChatBackend, turn: PreparedTurn) -> JSONResponse:
    """201 `[user message, agent message]`, or the failure as an HTTP error."""
    trace_id = turn.trace_id
    agent: dict[str, Any] | None = None
    async for kind, data in relay_turn(settings, backend, turn):
        if kind == "done":
            agent = data["_message"]
        elif kind == "error":
            raise HTTPException(
                STATUS_FOR_CODE[data["code"]], f"{data['code']}: {data['detail']} (trace_id {trace_id})"
            )
    if agent is None:  # pragma: no cover - relay_turn always ends with done or error
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"no answer (trace_id {trace_id})")
    body_out = [ChatMessageOut.model_validate(m).model_dump(mode="json") for m in (turn.user_message, agent)]
    return JSONResponse(body_out, status_code=status.HTTP_201_CREATED)


async def _sse(settings: Settings, backend: ChatBackend, turn: PreparedTurn) -> AsyncIterator[dict[str, str]]:
    events = relay_turn(settings, backend, turn)
    try:
        async for kind, data in events:
            yield {"event": kind, "data": json.dumps(public(data), ensure_ascii=False)}
    finally:
        await close_stream(events)


# --- WebSocket -------------------------------------------------------------------------------
async def _send(websocket: WebSocket, frame: dict[str, Any]) -> None:
    await websocket.send_text(json.dumps(frame, ensure_ascii=False))


async def _send_error(websocket: WebSocket, code: str, detail: str, trace_id: str) -> None:
    await _send(websocket, {"type": "error", "code": code, "detail": detail, "trace_id": trace_id})


def _own_session(settings: Settings, caller: Principal, session_id: str) -> None:
    with session_scope(settings.dsn) as db_session:
        service.get_session(db_session=db_session, user_id=caller.user_id, session_id=session_id)


def _parse_frame(raw: Any, max_chars: int) -> str:
    """The question in a client frame; `(code, detail)` as a `_FrameError` otherwise."""
    if not isinstance(raw, str):
        raise _FrameError("invalid_input", 'send JSON text frames: {"type":"message","content":"..."}')
    try:
        data = json.loads(raw)
    except ValueError:
        raise _FrameError("invalid_input", "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise _FrameError("invalid_input", 'a frame must be a JSON object: {"type":"message","content":"..."}')
    if data.get("type") != "message":
        raise _FrameError("invalid_type", f'unknown frame type {data.get("type")!r}: only "message" is accepted')
    content = data.get("content")
    if not isinstance(content, str):
        raise _FrameError("invalid_input", "content: must be a string")
    try:
        return service.validate_content(content, max_chars=max_chars)
    except InvalidInput as exc:
        raise _FrameError("invalid_input", str(exc)) from None


class _FrameError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


async def _read_frames(websocket: WebSocket, inbox: asyncio.Queue[Any], gone: asyncio.Event) -> None:
    """Everything the client sends, into `inbox`; `gone` is set when it disconnects."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            inbox.put_nowait(message.get("text") if message.get("text") is not None else message.get("bytes"))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the socket is gone: the same as a disconnect message
    finally:
        gone.set()
        inbox.put_nowait(_CLOSED)


async def _ws_turn(websocket: WebSocket, settings: Settings, backend: ChatBackend, turn: PreparedTurn) -> None:
    events = relay_turn(settings, backend, turn)
    try:
        async for kind, data in events:
            await _send(websocket, {"type": kind, **public(data)})
    finally:
        await close_stream(events)


async def _ws_message(websocket: WebSocket, caller: Principal, session_id: str, raw: Any, gone: asyncio.Event) -> None:
    """Answer one client frame: an error frame, or the streamed answer."""
    settings: Settings = websocket.app.state.settings
    trace_id = new_trace_id()
    try:
        content = _parse_frame(raw, settings.chat_max_message_chars)
    except _FrameError as exc:
        await _send_error(websocket, exc.code, exc.detail, trace_id)
        return
    try:
        turn = await run_in_threadpool(prepare, settings, caller, session_id, content, trace_id)
    except ChatError as exc:
        await _send_error(websocket, exc.code, str(exc), trace_id)
        return
    task = asyncio.create_task(_ws_turn(websocket, settings, chat_backend(websocket.app), turn))
    watcher = asyncio.create_task(gone.wait())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():  # the client left mid-answer: stop the backend
            task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        if not isinstance(error, (WebSocketDisconnect, RuntimeError, OSError)):
            raise error  # type: ignore[misc]


async def _accept(websocket: WebSocket, session_id: str) -> Principal | None:
    """Accept the socket; the caller when the session is theirs, else None (closed with a reason)."""
    try:
        caller = await websocket_user(websocket)
    except HTTPException as exc:
        await websocket.accept()
        await websocket.close(code=WS_CLOSE_POLICY, reason=str(exc.detail)[:120])
        return None
    await websocket.accept()
    try:
        await run_in_threadpool(_own_session, websocket.app.state.settings, caller, session_id)
    except ChatError as exc:
        await _send_error(websocket, exc.code, str(exc), new_trace_id())
        await websocket.close(code=WS_CLOSE_UNKNOWN_SESSION, reason=exc.code)
        return None
    return caller


async def _converse(websocket: WebSocket, caller: Principal, session_id: str) -> None:
    """Answer frames one at a time until the client leaves."""
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    gone = asyncio.Event()
    reader = asyncio.create_task(_read_frames(websocket, inbox, gone))
    try:
        while True:
            raw = await inbox.get()
            if raw is _CLOSED or gone.is_set():
                break
            try:
                await _ws_message(websocket, caller, session_id, raw, gone)
            except (WebSocketDisconnect, OSError):
                break
    finally:
        reader.cancel()
        await asyncio.wait({reader})
        if websocket.application_state == WebSocketState.CONNECTED and not gone.is_set():
            await websocket.close()


@router.websocket("/api/chat/ws/{session_id}")
async def chat_socket(websocket: WebSocket, session_id: str) -> None:
    """API.md's WebSocket protocol: `{"type":"message","content"}` in; `chunk`… `done`, or `error`."""
    caller = await _accept(websocket, session_id)
    if caller is not None:
        await _converse(websocket, caller, session_id)

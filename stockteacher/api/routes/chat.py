"""Chat routes (API.md "Chat"): sessions, messages as JSON or SSE, and the WebSocket.

Every turn goes the same way whatever the transport: the service stores the user's message
(`prepare_turn`), the chat backend streams the answer (`request.app.state.chat_backend`, the
Serve chat deployment behind a handle, or else an in-process `ChatEngine`), and
`relay_turn` stores the agent's message — exactly the concatenation of the streamed chunks — or
a `system` message naming the failure. A client that leaves mid-answer (SSE disconnect, closed
WebSocket) closes the backend's stream, which cancels the LLM call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

import anyio
from fastapi import APIRouter, Body, HTTPException, Request, WebSocket, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from stockteacher.api.auth import Principal, websocket_user
from stockteacher.api.deps import Caller, Db, ReadDb
from stockteacher.api.schemas import ChatMessageOut, ChatSessionIn, ChatSessionOut, ErrorOut
from stockteacher.chat import service
from stockteacher.chat.service import ChatError, InvalidInput, PreparedTurn
from stockteacher.logs import get_logger, new_trace_id
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope

__all__ = ["ChatBackend", "ChatMessageIn", "chat_backend", "relay_turn", "router"]

log = get_logger(__name__)
router = APIRouter(tags=["chat"])

STATUS_FOR_CODE = {
    "session_not_found": status.HTTP_404_NOT_FOUND,
    "report_not_found": status.HTTP_404_NOT_FOUND,
    "invalid_input": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "cost_limit": status.HTTP_429_TOO_MANY_REQUESTS,
    "llm_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
    "internal_error": status.HTTP_500_INTERNAL_SERVER_ERROR,
}
BACKEND_CODES = frozenset({"cost_limit", "llm_unavailable", "internal_error"})
WS_CLOSE_UNKNOWN_SESSION = 4404
WS_CLOSE_POLICY = 1008
CLEANUP_SECONDS = 10.0
_CLOSED = object()

SESSION_404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such session of yours (`session_not_found`)"}
}
SSE_DOC = (
    "With `Accept: text/event-stream` the answer streams as Server-Sent Events: `chunk` "
    '(data `{"content"}`) as it is written, then `done` (data `{"message_id", "user_message_id", '
    '"citations", "cost_usd"}`) or `error` (data `{"code", "detail", "trace_id"}`).'
)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(examples=["EPS가 뭐예요?"], description="1 to CHAT_MAX_MESSAGE_CHARS characters")


class ChatBackend(Protocol):
    """What answers chat: `ChatEngine`, or the Serve deployment handle's wrapper."""

    def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...


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


def _http_error(exc: ChatError) -> HTTPException:
    return HTTPException(STATUS_FOR_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST), str(exc))


# --- the turn, whatever the transport --------------------------------------------------------
def _prepare(settings: Settings, caller: Principal, session_id: str, content: str, trace_id: str) -> PreparedTurn:
    with session_scope(settings.dsn) as db_session:
        return service.prepare_turn(
            db_session=db_session,
            settings=settings,
            user_id=caller.user_id,
            session_id=session_id,
            content=content,
            trace_id=trace_id,
            is_admin=caller.is_admin,
        )


def _finish(settings: Settings, turn: PreparedTurn, content: str, final: dict[str, Any]) -> dict[str, Any]:
    with session_scope(settings.dsn) as db_session:
        return service.message_to_dict(
            service.finish_turn(db_session=db_session, turn=turn, content=content, final=final)
        )


def _fail(settings: Settings, turn: PreparedTurn, code: str, detail: str, usage: dict[str, Any] | None = None) -> None:
    with session_scope(settings.dsn) as db_session:
        service.record_failure(db_session=db_session, turn=turn, code=code, detail=detail, usage=usage)


def _usage_so_far(billing: dict[str, Any] | None, streamed: str) -> dict[str, Any] | None:
    """What an answer cut off by the client has cost: the prompt, and the tokens streamed."""
    if not billing:
        return None
    from stockteacher.analysis.cost import Price, cost_usd, estimate_text_tokens

    prompt, completion = int(billing.get("prompt_tokens") or 0), estimate_text_tokens(streamed)
    price = Price(*[float(x) for x in billing.get("price") or (0.0, 0.0)])
    model = str(billing.get("model") or "")
    return {"model": model, "prompt_tokens": prompt, "completion_tokens": completion,
            "cost_usd": cost_usd(price, prompt, completion)}  # fmt: skip


def _record_budget_stop(settings: Settings, turn: PreparedTurn, detail: str) -> None:
    """A budget that stops work leaves a `job_runs` row (stage `chat`) and a log event."""
    from stockteacher.store.jobs import FAILED, finish_job_run, start_job_run

    run_id = start_job_run(
        settings.dsn, stage="chat", trace_id=turn.trace_id, source="budget", details={"user_id": turn.user_id}
    )
    finish_job_run(settings.dsn, run_id, status=FAILED, error_code="daily_budget", error_message=detail)
    log.warning("budget.exhausted", budget="CHAT_DAILY_BUDGET_USD", trace_id=turn.trace_id)


async def _close(events: Any) -> None:
    """Close a backend stream even while our task is being cancelled (its `finally` must run to
    cancel the LLM call)."""
    aclose = getattr(events, "aclose", None)
    if aclose is None:  # a plain iterator has nothing to cancel
        return
    with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
        await aclose()


async def relay_turn(settings: Settings, backend: ChatBackend, turn: PreparedTurn) -> AsyncIterator[tuple[str, dict]]:
    """The backend's answer as `("chunk"|"done"|"error", data)`, stored as it ends.

    Closing this generator before it ends (the client left) closes the backend stream and
    stores a `system` note that the answer was interrupted.
    """
    parts: list[str] = []
    ended = False
    billing: dict[str, Any] | None = None
    events = backend.stream(turn.request)
    try:
        async for event in events:
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "billing":
                billing = event
                continue
            if kind == "chunk":
                text = str(event.get("content") or "")
                if text:
                    parts.append(text)
                    yield "chunk", {"content": text}
                continue
            ended = True
            if kind == "final":
                message = await run_in_threadpool(_finish, settings, turn, "".join(parts), event)
                log.info(
                    "chat.turn.done",
                    trace_id=turn.trace_id,
                    answer_chars=len(message["content"]),
                    cost_usd=message["cost_usd"],
                    offline=bool(event.get("offline")),
                )
                yield (
                    "done",
                    {
                        "message_id": message["message_id"],
                        "user_message_id": turn.user_message["message_id"],
                        "citations": message["citations"],
                        "cost_usd": message["cost_usd"],
                        "_message": message,
                    },
                )
                return
            code = str(event.get("code")) if kind == "error" else "internal_error"
            if code not in BACKEND_CODES:
                code = "internal_error"
            detail = str(event.get("detail") or "the chat backend sent an unexpected event")
            await run_in_threadpool(_fail, settings, turn, code, detail)
            if event.get("reason") == "daily_budget":
                await run_in_threadpool(_record_budget_stop, settings, turn, detail)
            log.warning("chat.turn.failed", trace_id=turn.trace_id, error_code=code)
            yield "error", {"code": code, "detail": detail, "trace_id": turn.trace_id}
            return
        ended = True
        detail = "the chat backend ended without an answer"
        await run_in_threadpool(_fail, settings, turn, "internal_error", detail)
        yield "error", {"code": "internal_error", "detail": detail, "trace_id": turn.trace_id}
    except Exception as exc:
        if ended:
            raise
        ended = True
        log.exception("chat.backend_failed", trace_id=turn.trace_id, error=type(exc).__name__)
        detail = f"the chat backend failed ({type(exc).__name__})"
        await run_in_threadpool(_fail, settings, turn, "internal_error", detail)
        yield "error", {"code": "internal_error", "detail": detail, "trace_id": turn.trace_id}
    finally:
        await _close(events)
        if not ended:  # the consumer left mid-answer: the tokens sent so far are still paid for
            usage = _usage_so_far(billing, "".join(parts))
            log.info(
                "chat.turn.interrupted",
                trace_id=turn.trace_id,
                streamed_chars=sum(map(len, parts)),
                cost_usd=round(usage["cost_usd"], 6) if usage else 0.0,
            )
            with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
                await run_in_threadpool(
                    _fail,
                    settings,
                    turn,
                    "interrupted",
                    f"the client left after {sum(map(len, parts))} characters of the answer",
                    usage,
                )


def _public(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not k.startswith("_")}


# --- HTTP ------------------------------------------------------------------------------------
@router.post(
    "/api/chat/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=ChatSessionOut,
    responses={
        404: {"model": ErrorOut, "description": "no such report (or hidden)"},
        422: {"model": ErrorOut, "description": "malformed body"},
    },
)
def create_session(body: ChatSessionIn, db: Db, caller: Caller) -> dict[str, Any]:
    """Start a chat about a report; its headline and summary are stored as the first message."""
    try:
        session = service.create_session(
            db_session=db, user_id=caller.user_id, insight_id=body.insight_id, is_admin=caller.is_admin
        )
    except ChatError as exc:
        raise _http_error(exc) from None
    return service.session_to_dict(session)


@router.get("/api/chat/sessions/{session_id}/messages", response_model=list[ChatMessageOut], responses=SESSION_404)
def list_messages(session_id: str, db: ReadDb, caller: Caller) -> list[dict[str, Any]]:
    """The session's messages, oldest first."""
    try:
        rows = service.list_messages(db_session=db, user_id=caller.user_id, session_id=session_id)
    except ChatError as exc:
        raise _http_error(exc) from None
    return [service.message_to_dict(m) for m in rows]


@router.post(
    "/api/chat/sessions/{session_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=list[ChatMessageOut],
    responses={
        201: {"description": SSE_DOC, "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        404: {"model": ErrorOut, "description": "`session_not_found`, or `report_not_found` (deleted or hidden)"},
        422: {"model": ErrorOut, "description": "`invalid_input`: empty or too-long content, malformed body"},
        429: {"model": ErrorOut, "description": "`cost_limit`: over the per-message cap or the daily budget"},
        500: {"model": ErrorOut, "description": "`internal_error` (with a trace_id)"},
        503: {"model": ErrorOut, "description": "`llm_unavailable`: the model did not answer"},
    },
)
async def post_message(
    session_id: str, body: Annotated[ChatMessageIn, Body()], request: Request, caller: Caller
) -> Any:
    """Ask the teacher: 201 `[user message, agent message]`, or, with `Accept: text/event-stream`,
    201 and the answer as SSE events (`chunk`, then `done` or `error`)."""
    settings: Settings = request.app.state.settings
    trace_id = new_trace_id()
    try:
        turn = await run_in_threadpool(_prepare, settings, caller, session_id, body.content, trace_id)
    except ChatError as exc:
        raise _http_error(exc) from None
    backend = chat_backend(request.app)
    if "text/event-stream" in request.headers.get("accept", ""):
        # 201 like the JSON answer: the user message is stored and the reply is being created
        return EventSourceResponse(_sse(settings, backend, turn), status_code=201, headers={"X-Trace-Id": trace_id})
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
            yield {"event": kind, "data": json.dumps(_public(data), ensure_ascii=False)}
    finally:
        await _close(events)


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
            await _send(websocket, {"type": kind, **_public(data)})
    finally:
        await _close(events)


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
        turn = await run_in_threadpool(_prepare, settings, caller, session_id, content, trace_id)
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


@router.websocket("/api/chat/ws/{session_id}")
async def chat_socket(websocket: WebSocket, session_id: str) -> None:
    """API.md's WebSocket protocol: `{"type":"message","content"}` in; `chunk`… `done`, or `error`."""
    try:
        caller = await websocket_user(websocket)
    except HTTPException as exc:
        await websocket.accept()
        await websocket.close(code=WS_CLOSE_POLICY, reason=str(exc.detail)[:120])
        return
    await websocket.accept()
    settings: Settings = websocket.app.state.settings
    try:
        await run_in_threadpool(_own_session, settings, caller, session_id)
    except ChatError as exc:
        await _send_error(websocket, exc.code, str(exc), new_trace_id())
        await websocket.close(code=WS_CLOSE_UNKNOWN_SESSION, reason=exc.code)
        return
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

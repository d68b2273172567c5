"""One chat turn, whatever the transport (JSON, SSE, WebSocket).

The service stores the user's message (`prepare`), the chat backend streams the answer (the
Serve chat deployment behind a handle, or an in-process `ChatEngine`), and `relay_turn` stores
the agent's message — exactly the concatenation of the streamed chunks — or a `system` message
naming the failure. A consumer that leaves mid-answer (SSE disconnect, closed WebSocket) closes
the backend's stream, which cancels the LLM call; the tokens already streamed are still charged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio
from starlette.concurrency import run_in_threadpool

from stockteacher.accounts.models import Principal
from stockteacher.chat import service
from stockteacher.chat.service import PreparedTurn
from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope

__all__ = ["BACKEND_CODES", "ChatBackend", "close_stream", "prepare", "public", "relay_turn"]

log = get_logger(__name__)
BACKEND_CODES = frozenset({"cost_limit", "llm_unavailable", "internal_error"})
CLEANUP_SECONDS = 10.0


class ChatBackend(Protocol):
    """What answers chat: `ChatEngine`, or the Serve deployment handle's wrapper."""

    def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...


def prepare(settings: Settings, caller: Principal, session_id: str, content: str, trace_id: str) -> PreparedTurn:
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


async def close_stream(events: Any) -> None:
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
        await close_stream(events)
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


def public(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not k.startswith("_")}

"""Chat sessions and messages in the database: what the chat routes call.

A session belongs to one user and one report. It starts with a `system` message holding the
report's headline and summary (status `Initiated`); each turn stores the user's message
before the teacher is asked (so nothing typed is lost), then the agent's answer with its
citations, tokens and cost (status `Conversing`) — or, when the answer fails, a `system`
message naming the failure.

Errors (ownership is checked here, once; another user's session is "not found"):

    ChatError                 (code: str)
    ├── SessionNotFound       session_not_found
    ├── ReportNotFound        report_not_found: unknown, or not one this caller may see
    └── InvalidInput          invalid_input: empty or too-long content
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from stockteacher.chat.price_context import price_context
from stockteacher.core.errors import InvalidRequest, NotFound, PicklableError
from stockteacher.logs import get_logger
from stockteacher.publish.materialize import report_to_dict
from stockteacher.reports.service import may_see
from stockteacher.settings import Settings
from stockteacher.store.models import ChatMessage, ChatSession, Report, User, utcnow

__all__ = [
    "ChatError",
    "InvalidInput",
    "PreparedTurn",
    "ReportNotFound",
    "SessionNotFound",
    "create_session",
    "finish_turn",
    "get_session",
    "list_messages",
    "message_to_dict",
    "prepare_turn",
    "record_failure",
    "session_to_dict",
    "spent_today",
    "validate_content",
]

log = get_logger(__name__)

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LATIN = re.compile(r"[A-Za-z]")


class ChatError(PicklableError):
    code = "chat_error"


class SessionNotFound(ChatError, NotFound):
    code = "session_not_found"


class ReportNotFound(ChatError, NotFound):
    code = "report_not_found"


class InvalidInput(ChatError, InvalidRequest):
    code = "invalid_input"


@dataclass(frozen=True)
class PreparedTurn:
    """A stored user message and the plain-data request for the chat backend."""

    session_id: str
    user_id: str
    user_message: dict[str, Any]
    request: dict[str, Any]

    @property
    def trace_id(self) -> str:
        return str(self.request["trace_id"])


def _plausible_id(value: str) -> bool:
    # PostgreSQL cannot even compare text with NUL in it; such an id names nothing
    return 0 < len(value) <= 32 and "\x00" not in value


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def session_to_dict(session: ChatSession) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "insight_id": session.insight_id,
        "user_id": session.user_id,
        "status": session.status,
        "started_at": session.started_at,
        "updated_at": session.updated_at,
    }


def message_to_dict(message: ChatMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "session_id": message.session_id,
        "sender": message.sender,
        "content": message.content,
        "created_at": message.created_at,
        "citations": list(message.citations or []),
        "cost_usd": message.cost_usd,
    }


def validate_content(content: str, *, max_chars: int) -> str:
    """The message as stored (stripped); `InvalidInput` when empty or too long."""
    text = content.strip() if isinstance(content, str) else ""
    if not text:
        raise InvalidInput("content: the message is empty")
    if "\x00" in text:
        raise InvalidInput("content: must not contain NUL characters")
    if len(text) > max_chars:
        raise InvalidInput(f"content: {len(text)} characters, at most {max_chars} (CHAT_MAX_MESSAGE_CHARS)")
    return text


def _chattable_report(db_session: Session, insight_id: str, *, is_admin: bool) -> Report | None:
    report = db_session.get(Report, insight_id) if _plausible_id(insight_id) else None
    if report is None or not may_see(report.status, is_admin=is_admin):
        return None
    return report


def create_session(*, db_session: Session, user_id: str, insight_id: str, is_admin: bool = False) -> ChatSession:
    """A new session on the report, with the report's headline and summary as its first message."""
    report = _chattable_report(db_session, insight_id, is_admin=is_admin)
    if report is None:
        raise ReportNotFound(f"report {insight_id!r} not found")
    now = utcnow()
    session = ChatSession(
        session_id=_new_id("chat"),
        user_id=user_id,
        insight_id=insight_id,
        status="Initiated",
        started_at=now,
        updated_at=now,
    )
    db_session.add(session)
    db_session.flush()
    db_session.add(
        ChatMessage(
            message_id=_new_id("msg"),
            session_id=session.session_id,
            user_id=user_id,
            sender="system",
            content=f"{report.headline}\n\n{report.summary_text}",
            citations=[],
            created_at=now,
        )
    )
    db_session.flush()
    return session


def get_session(*, db_session: Session, user_id: str, session_id: str) -> ChatSession:
    session = db_session.get(ChatSession, session_id) if _plausible_id(session_id) else None
    if session is None or session.user_id != user_id:
        raise SessionNotFound(f"chat session {session_id!r} not found")
    return session


def list_messages(*, db_session: Session, user_id: str, session_id: str) -> list[ChatMessage]:
    """The session's messages, oldest first."""
    get_session(db_session=db_session, user_id=user_id, session_id=session_id)
    return list(
        db_session.execute(
            select(ChatMessage).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id)
        ).scalars()
    )


def spent_today(*, db_session: Session, user_id: str, now: datetime | None = None) -> float:
    """The user's chat spend since UTC midnight."""
    midnight = datetime.combine((now or utcnow()).astimezone(UTC).date(), time.min, tzinfo=UTC)
    total = db_session.execute(
        select(func.coalesce(func.sum(ChatMessage.cost_usd), 0.0)).where(
            ChatMessage.user_id == user_id, ChatMessage.created_at >= midnight
        )
    ).scalar_one()
    return float(total or 0.0)


def _history(db_session: Session, session_id: str, before_id: int, turns: int) -> list[dict[str, str]]:
    rows = db_session.execute(
        select(ChatMessage.sender, ChatMessage.content)
        .where(
            ChatMessage.session_id == session_id,
            ChatMessage.sender.in_(("user", "agent")),
            ChatMessage.id < before_id,
        )
        .order_by(ChatMessage.id.desc())
        .limit(turns)
    ).all()
    return [{"sender": sender, "content": content} for sender, content in reversed(rows)]


def _locale(db_session: Session, user_id: str, question: str, report: Report, settings: Settings) -> str:
    """The user's own locale if set; else the question's script; else the report's."""
    user = db_session.get(User, user_id)
    if user is not None and user.locale:
        return user.locale
    if _HANGUL.search(question):
        return "ko_KR"
    if _LATIN.search(question):
        return "en_US"
    return report.locale or settings.default_locale


def _prices(db_session: Session, report: Report, trace_id: str) -> dict[str, Any] | None:
    """The report's price context; None (with a log line) when it cannot be made — the prices
    enrich an answer, they never stop one. A database error is not swallowed: the transaction
    holding the user's message would be broken by it."""
    try:
        return price_context(db_session, report)
    except SQLAlchemyError:
        raise
    except Exception as exc:
        log.warning("chat.price_context_failed", trace_id=trace_id, ticker=report.ticker, error=repr(exc))
        return None


def prepare_turn(
    *,
    db_session: Session,
    settings: Settings,
    user_id: str,
    session_id: str,
    content: str,
    trace_id: str,
    is_admin: bool = False,
) -> PreparedTurn:
    """Check the session, its report and the content; store the user's message; build the
    request for the chat backend (history cut to `CHAT_MAX_TURNS` messages, today's spend, and
    the report's price context: what the stock did after it, as far as stored bars tell)."""
    session = get_session(db_session=db_session, user_id=user_id, session_id=session_id)
    report = _chattable_report(db_session, session.insight_id, is_admin=is_admin)
    if report is None:
        raise ReportNotFound(f"the report of this chat ({session.insight_id!r}) is no longer available")
    text = validate_content(content, max_chars=settings.chat_max_message_chars)
    message = ChatMessage(
        message_id=_new_id("msg"),
        session_id=session_id,
        user_id=user_id,
        sender="user",
        content=text,
        citations=[],
        trace_id=trace_id,
        created_at=utcnow(),
    )
    db_session.add(message)
    db_session.flush()
    request = {
        "report": report_to_dict(report),
        "history": _history(db_session, session_id, message.id, settings.chat_max_turns),
        "question": text,
        "user_id": user_id,
        "spent_today_usd": spent_today(db_session=db_session, user_id=user_id),
        "locale": _locale(db_session, user_id, text, report, settings),
        "trace_id": trace_id,
        "prices": _prices(db_session, report, trace_id),
    }
    session.updated_at = message.created_at
    return PreparedTurn(session_id=session_id, user_id=user_id, user_message=message_to_dict(message), request=request)


def finish_turn(*, db_session: Session, turn: PreparedTurn, content: str, final: dict[str, Any]) -> ChatMessage:
    """Store the agent's answer (`content` exactly as streamed) and mark the session `Conversing`."""
    now = utcnow()
    message = ChatMessage(
        message_id=_new_id("msg"),
        session_id=turn.session_id,
        user_id=turn.user_id,
        sender="agent",
        content=content,
        citations=list(final.get("citations") or []),
        model=str(final.get("model") or "")[:100] or None,
        prompt_tokens=int(final.get("prompt_tokens") or 0),
        completion_tokens=int(final.get("completion_tokens") or 0),
        cost_usd=float(final.get("cost_usd") or 0.0),
        trace_id=turn.trace_id,
        created_at=now,
    )
    db_session.add(message)
    session = db_session.get(ChatSession, turn.session_id)
    if session is not None:
        session.status = "Conversing"
        session.updated_at = now
    db_session.flush()
    return message


def record_failure(
    *, db_session: Session, turn: PreparedTurn, code: str, detail: str, usage: dict[str, Any] | None = None
) -> ChatMessage:
    """A `system` message saying the answer to the user's message failed, and why; with what the
    attempt cost (`usage`: model, tokens, cost_usd), which counts against the daily budget."""
    usage = usage or {}
    message = ChatMessage(
        message_id=_new_id("msg"),
        session_id=turn.session_id,
        user_id=turn.user_id,
        sender="system",
        content=f"No answer ({code}): {detail}"[:2000],
        citations=[],
        model=str(usage.get("model") or "")[:100] or None,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cost_usd=float(usage.get("cost_usd") or 0.0),
        trace_id=turn.trace_id,
        created_at=utcnow(),
    )
    db_session.add(message)
    db_session.flush()
    return message

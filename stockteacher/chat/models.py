"""The chat tables and their API bodies (API.md `ChatSession`, `ChatMessage`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockteacher.store.models import ChatMessage, ChatSession

__all__ = ["ChatMessage", "ChatMessageOut", "ChatSession", "ChatSessionIn", "ChatSessionOut"]


class ChatSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insight_id: str = Field(min_length=1, max_length=32)


class ChatSessionOut(BaseModel):
    session_id: str
    insight_id: str
    user_id: str
    status: Literal["Initiated", "Conversing", "Completed", "Handover"]
    started_at: datetime
    updated_at: datetime


class ChatMessageOut(BaseModel):
    message_id: str
    session_id: str
    sender: Literal["user", "agent", "system"]
    content: str
    created_at: datetime
    citations: list[dict[str, Any]] = []
    cost_usd: float = 0.0

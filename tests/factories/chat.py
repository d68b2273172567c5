"""Chat tests' shared parts: settings for an app whose chat calls the fake OpenAI server, and
opening a chat session over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from stockteacher.settings import Settings

__all__ = ["new_session", "online_settings"]


def online_settings(make_settings: Callable[..., Settings], pg_dsn: str, llm_server: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "postgres_dsn": pg_dsn,
        "auth_mode": "api_key",
        "openai_api_key": "test-key",
        "openai_base_url": llm_server.base_url,
        "analysis_provider": "auto",
    }
    return make_settings(**{**values, **overrides})


def new_session(client: TestClient, headers: dict[str, str], insight_id: str) -> str:
    response = client.post("/api/chat/sessions", json={"insight_id": insight_id}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])

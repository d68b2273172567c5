"""The chat tests' `online` fixture: apps whose chat calls the fake OpenAI server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockteacher.api.app import create_app
from stockteacher.settings import Settings
from tests.factories.chat import online_settings


@pytest.fixture
def online(make_settings: Callable[..., Settings], pg_dsn: str, llm_server: Any) -> Iterator[Callable[..., TestClient]]:
    """`online(**overrides)`: a TestClient on an app whose chat calls the fake OpenAI server."""
    opened: list[TestClient] = []

    def factory(*, chat_backend: Any = None, **overrides: Any) -> TestClient:
        client = TestClient(
            create_app(online_settings(make_settings, pg_dsn, llm_server, **overrides), chat_backend=chat_backend)
        )
        client.__enter__()
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)

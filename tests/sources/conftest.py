"""Fixtures for source tests: a threaded local HTTP server and fake NewsAPI / Naver / OpenDART endpoints.

The server is pytest-httpserver's werkzeug server, bound to 127.0.0.1 and threaded, so that a
request stalled to provoke a client timeout does not hold up the client's retry behind it.
Nothing here reaches beyond the loopback interface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from pytest_httpserver import HTTPServer

from stockteacher.settings import Settings
from tests.factories.sources import DART_API_KEY, NAVER_ID, NAVER_SECRET, NEWS_API_KEY
from tests.servers.dart import FakeDart
from tests.servers.naver import FakeNaver
from tests.servers.newsapi import FakeNewsApi


@pytest.fixture
def newsapi(httpserver: HTTPServer) -> Iterator[FakeNewsApi]:
    server = FakeNewsApi(httpserver, api_key=NEWS_API_KEY)
    yield server
    server.close()
    httpserver.check_handler_errors()


@pytest.fixture
def naver(httpserver: HTTPServer) -> Iterator[FakeNaver]:
    server = FakeNaver(httpserver, client_id=NAVER_ID, client_secret=NAVER_SECRET)
    yield server
    server.close()
    httpserver.check_handler_errors()


@pytest.fixture
def dart(httpserver: HTTPServer) -> Iterator[FakeDart]:
    server = FakeDart(httpserver, api_key=DART_API_KEY)
    yield server
    server.close()
    httpserver.check_handler_errors()


@pytest.fixture
def news_settings(make_settings: Callable[..., Settings], newsapi: FakeNewsApi) -> Callable[..., Settings]:
    """Settings pointing NewsAPI at the fake, English queries, short timeouts."""

    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "news_api_key": NEWS_API_KEY,
            "news_api_endpoint": newsapi.url,
            "news_api_lang": "en",
            "news_api_timeout_seconds": 3,
            "source_max_retry_wait_seconds": 5,
        }
        base.update(overrides)
        return make_settings(**base)

    return factory


@pytest.fixture
def naver_settings(make_settings: Callable[..., Settings], naver: FakeNaver) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "naver_client_id": NAVER_ID,
            "naver_client_secret": NAVER_SECRET,
            "naver_endpoint": naver.url,
            "naver_timeout_seconds": 3,
            "source_max_retry_wait_seconds": 5,
        }
        base.update(overrides)
        return make_settings(**base)

    return factory


@pytest.fixture
def dart_settings(make_settings: Callable[..., Settings], dart: FakeDart, tmp_path: Any) -> Callable[..., Settings]:
    """Settings pointing OpenDART at the fake, the corp-code cache in this test's directory."""

    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "dart_api_key": DART_API_KEY,
            "dart_endpoint": dart.endpoint,
            "dart_timeout_seconds": 3,
            "dart_corp_code_path": str(tmp_path / "var" / "dart_corp_codes.json"),
            "source_max_retry_wait_seconds": 5,
        }
        base.update(overrides)
        return make_settings(**base)

    return factory


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo `configure_logging` after a test: root handlers and levels, structlog defaults."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "alembic")}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)
    structlog.reset_defaults()

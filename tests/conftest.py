"""Shared fixtures: real PostgreSQL and Redis on 127.0.0.1, SQLite files, settings.

PostgreSQL and Redis are required when `STOCKTEACHER_REQUIRE_SERVICES=1` (as in CI): a test
that needs one fails if it does not answer (see `tests.factories.services`). Elsewhere such
tests are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis
from pytest_httpserver import HTTPServer

from stockteacher.settings import Settings
from stockteacher.store import migrate
from tests.factories.services import REDIS_TEST_URL, new_pg_database, unavailable
from tests.factories.settings import TEST_SECRET_KEY, isolate_environment

# The API fixtures (app, client, users, reports) serve the tests of every web package.
pytest_plugins = ("tests.fixtures.api",)

TABLES = (
    "track_records",
    "report_outcomes",
    "price_bars",
    "deliveries",
    "feed_tokens",
    "notification_channels",
    "notification_policies",
    "chat_messages",
    "chat_sessions",
    "favorites",
    "api_keys",
    "users",
    "subscriptions",
    "reports",
    "analysis_stories",
    "analyses",
    "articles",
    "stories",
    "job_runs",
    "schedule_state",
    "tickers",
)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with new_pg_database("stockteacher_test") as plain:
        dsn = plain.replace("postgresql://", "postgresql+psycopg://", 1)
        migrate.upgrade(dsn)
        yield dsn


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A new PostgreSQL database with no schema (never migrated), dropped afterwards."""
    with new_pg_database("stockteacher_mig") as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    with psycopg.connect(pg_database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return pg_database


@pytest.fixture
def sqlite_dsn(tmp_path: Any) -> str:
    dsn = f"sqlite:///{tmp_path / 'test.db'}"
    migrate.upgrade(dsn)
    return dsn


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 15, flushed before and after the test."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        unavailable("Redis", exc)
    yield REDIS_TEST_URL
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def make_settings(tmp_path: Any) -> Callable[..., Settings]:
    """Settings that ignore the developer's `.env` and environment, plus overrides by field name."""

    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "postgres_dsn": f"sqlite:///{tmp_path / 'default.db'}",
            "ingestion_redis_url": "redis://127.0.0.1:1/0",  # nothing listens: memory fallback
            "local_storage_root": str(tmp_path / "storage"),
            "source_backoff_seconds": 0.01,
            "redis_socket_timeout_seconds": 0.5,
            # No price fetches unless a test asks (`price_source="sample"`): Yahoo is the internet.
            "price_source": "off",
            "secret_key": TEST_SECRET_KEY,
        }
        base.update(overrides)
        return Settings(_env_file=None, **base)

    return factory


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No test reads the developer's `.env`, `STOCKTEACHER_ENV_FILE` or any variable a
    `Settings` field reads (see `tests.factories.settings`): each starts in its own directory."""
    isolate_environment(monkeypatch, tmp_path)


@pytest.fixture(autouse=True)
def _fresh_keystores() -> Iterator[None]:
    """Each test starts with no in-memory de-duplication marks from earlier tests."""
    from stockteacher.ingest import collect

    collect._keystores.clear()
    yield
    for store in collect._keystores.values():
        store.close()
    collect._keystores.clear()


@pytest.fixture(autouse=True)
def _bundled_tickers_only() -> Iterator[None]:
    """Each test starts with the bundled ticker registry: no operators' additions of an earlier
    test's database (the registry keeps them per process)."""
    from stockteacher.tickers import service as tickers

    tickers.forget()
    yield
    tickers.forget()


@pytest.fixture
def llm_server() -> Iterator[Any]:
    """A local OpenAI-protocol server (key "test-key") for the duration of a test."""
    from tests.servers.openai_server import openai_server

    yield from openai_server()


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    """Overrides pytest-httpserver's server: loopback only and one thread per request."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; requests to the local server must never leave the machine."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

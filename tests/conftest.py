"""Shared fixtures: real PostgreSQL and Redis on 127.0.0.1, SQLite files, settings.

PostgreSQL and Redis are required when `STOCKTEACHER_REQUIRE_SERVICES=1` (as in CI): a test
that needs one fails if it does not answer. Elsewhere such tests are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis
from pytest_httpserver import HTTPServer

from stockteacher.settings import Settings
from stockteacher.store import migrate
from stockteacher.store.db import dispose_engines

PG_ADMIN_DSN = os.environ.get("STOCKTEACHER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("STOCKTEACHER_TEST_REDIS", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("STOCKTEACHER_REQUIRE_SERVICES") == "1"
TABLES = (
    "deliveries",
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
)


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not answering ({type(exc).__name__}: {exc})"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and STOCKTEACHER_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _admin_dsn_for(dbname: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"


@contextmanager
def new_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (plain `postgresql://` DSN, as users write it), dropped
    at the end; the test fails or is skipped (see `_unavailable`) when PostgreSQL is down."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    try:
        yield _admin_dsn_for(name)
    finally:
        dispose_engines()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flushed_redis(db: int) -> str:
    """The URL of Redis database `db` on 127.0.0.1, emptied (fails or skips if Redis is down)."""
    url = REDIS_TEST_URL.rsplit("/", 1)[0] + f"/{db}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.exceptions.ConnectionError as exc:
        _unavailable("Redis", exc)
    return url


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
        _unavailable("Redis", exc)
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
        }
        base.update(overrides)
        return Settings(_env_file=None, **base)

    return factory


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No test reads the developer's `.env` or StockTeacher variables from the shell."""
    for key in list(os.environ):
        if key.startswith(
            (
                "NEWS_API_",
                "NAVER_",
                "RSS_",
                "ANALYSIS_",
                "OPENAI_",
                "POSTGRES_DSN",
                "DATABASE_URL",
                "INGESTION_",
                "COLLECTION_",
                "DEDUP_",
                "LOG_JSON",
                "STRUCTLOG_",
                "STOCKTEACHER_ENV_FILE",
                "NODE_TYPE_RESOURCES",
                "SCHEDULER_",
            )
        ):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _fresh_keystores() -> Iterator[None]:
    """Each test starts with no in-memory de-duplication marks from earlier tests."""
    from stockteacher.ingest import collect

    collect._keystores.clear()
    yield
    for store in collect._keystores.values():
        store.close()
    collect._keystores.clear()


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

"""The PostgreSQL and Redis on 127.0.0.1 that tests use, and what a test does when one is down.

PostgreSQL and Redis are required when `STOCKTEACHER_REQUIRE_SERVICES=1` (as in CI): a test
that needs one fails if it does not answer. Elsewhere such tests are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import psycopg
import pytest
import redis

from stockteacher.store.db import dispose_engines

__all__ = [
    "PG_ADMIN_DSN",
    "REDIS_TEST_URL",
    "REQUIRE_SERVICES",
    "flushed_redis",
    "new_pg_database",
    "unavailable",
]

PG_ADMIN_DSN = os.environ.get("STOCKTEACHER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("STOCKTEACHER_TEST_REDIS", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("STOCKTEACHER_REQUIRE_SERVICES") == "1"


def unavailable(what: str, exc: Exception) -> NoReturn:
    """Fail the test when services are required, else skip it; the message says why."""
    message = f"{what} is not answering ({type(exc).__name__}: {exc})"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and STOCKTEACHER_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _admin_dsn_for(dbname: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{dbname}"


@contextmanager
def new_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (plain `postgresql://` DSN, as users write it), dropped
    at the end; the test fails or is skipped (see `unavailable`) when PostgreSQL is down."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
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
        unavailable("Redis", exc)
    return url

"""Engines and sessions for the one configured database (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "StoreError",
    "dispose_engines",
    "get_engine",
    "instance_id",
    "normalise_dsn",
    "session_scope",
    "reader_sessionmaker",
    "sessionmaker_for",
]


class StoreError(RuntimeError):
    """The database refused or failed a write; the transaction was rolled back."""

    code = "db_error"


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalise_dsn(dsn: str) -> URL:
    """Accept `postgres://` and `postgresql://` and use the psycopg 3 driver for them."""
    url = make_url(dsn)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine(dsn: str) -> Engine:
    """One pooled engine per database URL per process."""
    from stockteacher.settings import absolute_sqlite

    dsn = absolute_sqlite(dsn)
    with _lock:
        engine = _engines.get(dsn)
        if engine is None:
            url = normalise_dsn(dsn)
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.get_backend_name() == "sqlite":
                if url.database and url.database != ":memory:":
                    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            else:
                # An unreachable server fails in seconds with a reason, instead of hanging a job.
                kwargs.update(pool_size=5, max_overflow=10)
                if "connect_timeout" not in url.query:
                    kwargs["connect_args"] = {"connect_timeout": 10}
            engine = create_engine(url, **kwargs)
            if url.get_backend_name() == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            _engines[dsn] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, or in tests that drop schemas)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _instance_ids.clear()
        _readers.clear()
        _makers.clear()


_instance_ids: dict[str, str] = {}


def instance_id(dsn: str) -> str:
    """The database's own id (written by the first migration), cached per process."""
    from stockteacher.settings import absolute_sqlite

    dsn = absolute_sqlite(dsn)
    cached = _instance_ids.get(dsn)
    if cached is None:
        from sqlalchemy import select

        from stockteacher.store.models import AppMeta

        with session_scope(dsn) as session:
            cached = session.execute(select(AppMeta.value).where(AppMeta.key == "instance_id")).scalar_one()
        _instance_ids[dsn] = cached
    return cached


_makers: dict[str, sessionmaker[Session]] = {}


def sessionmaker_for(dsn: str) -> sessionmaker[Session]:
    """The process's one sessionmaker per database. A `sessionmaker` defines a new `Session`
    subclass, whose event set-up cost ~0.5 ms; made per `session_scope` (17 per ticker in a
    sweep) it was a visible share of a sweep's CPU (issue #13)."""
    from stockteacher.settings import absolute_sqlite

    dsn = absolute_sqlite(dsn)  # keyed as the engines are: a relative SQLite path names the file it resolves to
    maker = _makers.get(dsn)
    if maker is None:
        maker = _makers[dsn] = sessionmaker(get_engine(dsn), expire_on_commit=False)
    return maker


_readers: dict[str, sessionmaker[Session]] = {}


def reader_sessionmaker(dsn: str) -> sessionmaker[Session]:
    """Sessions for read-only work on PostgreSQL: autocommit, so a request that only reads pays
    no BEGIN/COMMIT round trips (same pool as `get_engine`). SQLite: the ordinary sessions."""
    maker = _readers.get(dsn)
    if maker is None:
        engine = get_engine(dsn)
        if engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")  # type: ignore[assignment]
        maker = _readers[dsn] = sessionmaker(engine, expire_on_commit=False)
    return maker


@contextmanager
def session_scope(dsn: str) -> Iterator[Session]:
    """A session whose transaction commits at the end of the block or rolls back on error."""
    session = sessionmaker_for(dsn)()
    try:
        with session.begin():
            yield session
    finally:
        session.close()

"""Engines and sessions for the one configured database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "StoreError",
    "dispose_engines",
    "get_engine",
    "instance_id",
    "loop_reader",
    "normalise_dsn",
    "read_on_loop",
    "read_retrying",
    "reader_sessionmaker",
    "session_scope",
    "sessionmaker_for",
]

T = TypeVar("T")


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
        for engine in _retrying_engines.values():
            engine.dispose()
        _retrying_engines.clear()
        _loop_engines.clear()  # their connections belong to event loops; they close when collected
        _instance_ids.clear()
        _readers.clear()
        _makers.clear()
        _retrying_readers.clear()


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


_retrying_engines: dict[str, Engine] = {}
_retrying_readers: dict[str, sessionmaker[Session]] = {}
# Its own pool: the API's cache misses, up to one per in-flight request; kept open rather than
# opened and closed per request past `pool_size` (PostgreSQL starts a process per connection).
RETRYING_POOL = {"pool_size": 16, "max_overflow": 8}


def _retrying_reader(dsn: str) -> sessionmaker[Session]:
    maker = _retrying_readers.get(dsn)
    if maker is None:
        engine = get_engine(dsn)
        if engine.dialect.name == "postgresql":
            with _lock:
                engine = _retrying_engines.get(dsn) or create_engine(
                    engine.url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10}, **RETRYING_POOL
                )
                _retrying_engines[dsn] = engine
            maker = sessionmaker(engine, expire_on_commit=False)
        else:
            maker = reader_sessionmaker(dsn)
        _retrying_readers[dsn] = maker
    return maker


def read_retrying(dsn: str, call: Callable[[Session], T]) -> T:
    """`call(session)` for a read that may run twice (it changes nothing), on an autocommit
    session of a pool without pre-ping: `get_engine`'s pre-ping is a `SELECT 1` round trip on
    every checkout, as much as a cache miss's own query. A connection the server has dropped
    (a restart) fails instead; SQLAlchemy then discards it and every connection older than it,
    and the read runs once more on a fresh one, so the caller sees no error either way."""
    maker = _retrying_reader(dsn)
    try:
        with maker() as session:
            return call(session)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with maker() as session:
        return call(session)


_loop_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)


def loop_reader(dsn: str) -> AsyncEngine | None:
    """This event loop's engine for reads on PostgreSQL (psycopg's async driver, autocommit, no
    pre-ping; `read_on_loop`), or None on SQLite. One per loop: an async connection belongs to
    the loop that opened it (tests run several)."""
    engine = get_engine(dsn)
    if engine.dialect.name != "postgresql":
        return None
    engines = _loop_engines.setdefault(asyncio.get_running_loop(), {})
    reader = engines.get(dsn)
    if reader is None:
        reader = engines[dsn] = create_async_engine(
            engine.url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10}, **RETRYING_POOL
        )
    return reader


async def read_on_loop(engine: AsyncEngine, call: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`await call(connection)` for a read that may run twice, as `read_retrying` does it: no
    pre-ping, and once more on a fresh connection if the first one had been dropped."""
    try:
        async with engine.connect() as connection:
            return await call(connection)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    async with engine.connect() as connection:
        return await call(connection)


@contextmanager
def session_scope(dsn: str) -> Iterator[Session]:
    """A session whose transaction commits at the end of the block or rolls back on error."""
    session = sessionmaker_for(dsn)()
    try:
        with session.begin():
            yield session
    finally:
        session.close()

"""Dependencies shared by the routers: settings, a database session, the caller."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from stockteacher.accounts.models import Principal
from stockteacher.api.auth import current_user, require_admin
from stockteacher.settings import Settings
from stockteacher.store.db import get_engine, read_retrying, reader_sessionmaker, sessionmaker_for

__all__ = ["Admin", "AppSettings", "Caller", "Db", "ReadDb", "get_settings", "in_read_session"]

T = TypeVar("T")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Opening a session does no I/O (it connects on first use), so only the end of the
    transaction goes to the thread pool; the handlers themselves are sync and run there too.
    """
    session = sessionmaker_for(request.app.state.settings.dsn)()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_end, session, False)
        raise
    await run_in_threadpool(_end, session, True)


async def get_read_db(request: Request) -> AsyncIterator[Session]:
    """A session for handlers that only read (no transaction round trips on PostgreSQL).

    On PostgreSQL the session is in autocommit, so closing it does no I/O (psycopg skips the
    pool's reset rollback when no transaction is open): it is closed here, without a second
    trip through the thread pool on every read.
    """
    dsn = request.app.state.settings.dsn
    session = reader_sessionmaker(dsn)()
    try:
        yield session
    finally:
        if get_engine(dsn).dialect.name == "postgresql":
            session.close()
        else:
            await run_in_threadpool(session.close)


async def in_read_session(request: Request, call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`call(*args, db_session=<a read-only session>, **kwargs)` in the thread pool, the session
    opened and closed there: for an async route that needs the database only sometimes (a cache
    miss), so a hit pays neither a session nor the thread-pool hop (`ReadDb` would). `call` only
    reads: it runs again if its connection turns out to be dead (`read_retrying`).

    At most `READ_THREADS` of these run at once per process; the rest wait on the event loop.
    Sixteen threads each holding the GIL for a query's Python half made the event loop wait for
    it (under wrk, 1 thread: p99 75 ms; the thread pool's 40: p99 over 250 ms)."""
    dsn = request.app.state.settings.dsn

    def run() -> T:
        return read_retrying(dsn, lambda session: call(*args, db_session=session, **kwargs))

    return await to_thread.run_sync(run, limiter=_read_limiter())


READ_THREADS = 2
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


def _read_limiter() -> CapacityLimiter:
    """This event loop's limiter (a limiter's waiters belong to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = CapacityLimiter(READ_THREADS)
    return limiter


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_admin(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
    return require_admin(principal)


AppSettings = Annotated[Settings, Depends(get_settings)]
# scope="function": the transaction commits before the response is sent, so a client that
# acts on a 201 at once finds the row (the default scope commits after the response).
Db = Annotated[Session, Depends(get_db, scope="function")]
ReadDb = Annotated[Session, Depends(get_read_db, scope="function")]
Caller = Annotated[Principal, Depends(current_user)]
Admin = Annotated[Principal, Depends(get_admin)]

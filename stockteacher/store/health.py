"""Is the configured database ready for this code? If not, one line that says what to do.

Every entry point that needs the database (jobs, `stockteacher` commands, the Serve builder and
its health checks) calls `check_database` first, so that an operator sees

    the database at postgresql://app@db:5432/st is not migrated (no schema yet): run
    `stockteacher db upgrade` with this POSTGRES_DSN

instead of a `relation "job_runs" does not exist` traceback from inside a Ray task.

    StoreError                      (store.db)
     └─ DatabaseNotReady            the database cannot serve this code; exit code 2
         ├─ DatabaseUnreachable     no connection (down, wrong host/port/password, firewall)
         └─ DatabaseNotMigrated     no schema, an older one, or one newer than this code
"""

from __future__ import annotations

import time
from functools import cache

from sqlalchemy.exc import SQLAlchemyError

from stockteacher.core.errors import SetupError
from stockteacher.store.db import StoreError, get_engine, normalise_dsn

__all__ = [
    "DatabaseNotMigrated",
    "DatabaseNotReady",
    "DatabaseUnreachable",
    "check_database",
    "current_revision",
    "display_dsn",
]

_CHECK_TTL_SECONDS = 30.0
_checked: dict[str, float] = {}


class DatabaseNotReady(StoreError, SetupError):
    """The database cannot serve this code; the message says what to do."""

    code = "db_not_ready"


class DatabaseUnreachable(DatabaseNotReady):
    code = "db_unreachable"


class DatabaseNotMigrated(DatabaseNotReady):
    code = "db_not_migrated"


def display_dsn(dsn: str) -> str:
    """The URL with its password masked, for messages."""
    return normalise_dsn(dsn).set(drivername=normalise_dsn(dsn).get_backend_name()).render_as_string(hide_password=True)


@cache
def _head_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from stockteacher.store.revisions import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@cache
def _known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from stockteacher.store.revisions import alembic_config

    return frozenset(r.revision for r in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions())


def current_revision(dsn: str) -> str | None:
    """The database's Alembic revision (None: no schema). `DatabaseUnreachable` if it does not
    answer."""
    from alembic.runtime.migration import MigrationContext

    try:
        with get_engine(dsn).connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        raise DatabaseUnreachable(
            f"cannot reach the database at {display_dsn(dsn)}: {reason}; check that it runs and that this "
            "node can reach it (POSTGRES_DSN)"
        ) from None


def check_database(dsn: str, *, fresh: bool = False) -> None:
    """Raise `DatabaseUnreachable` / `DatabaseNotMigrated` unless the database at `dsn` answers
    at this code's schema revision. A success is remembered for 30 s per process unless `fresh`
    (health checks ask every time)."""
    if not fresh and time.monotonic() - _checked.get(dsn, float("-inf")) < _CHECK_TTL_SECONDS:
        return
    where = display_dsn(dsn)
    current = current_revision(dsn)
    heads = _head_revisions()
    if current in heads:
        _checked[dsn] = time.monotonic()
        return
    if current is None:
        state = "no schema yet"
    elif current in _known_revisions():
        state = f"revision {current}, this code needs {', '.join(sorted(heads))}"
    else:
        raise DatabaseNotMigrated(
            f"the database at {where} is at revision {current}, which this code does not know: a newer "
            "StockTeacher migrated it; install the same version on every node"
        )
    raise DatabaseNotMigrated(
        f"the database at {where} is not migrated ({state}): run `stockteacher db upgrade` with this POSTGRES_DSN"
    )

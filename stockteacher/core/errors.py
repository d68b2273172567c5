"""The root of StockTeacher's exception trees.

Every error we raise on purpose derives from `StockTeacherError`, so an entry point can tell
"we refused, with a message meant for a person" from a bug:

    StockTeacherError
    ├── SetupError        the work cannot start here (settings, Ray address, database)
    ├── PicklableError    errors with keyword-only arguments that cross Ray
    │   ├── sources.base.SourceError, analysis.errors.AnalysisError, chat.service.ChatError
    └── the domain services' errors (reports, subscriptions, accounts, channels), which
        `api.errors` maps to HTTP statuses in one place
"""

from __future__ import annotations

from typing import Any

__all__ = ["Conflict", "Forbidden", "InvalidRequest", "NotFound", "PicklableError", "SetupError", "StockTeacherError"]


class StockTeacherError(Exception):
    """Something we refuse on purpose; `str(error)` is meant for a person, `body()` is what an
    API answer carries besides it (the candidates of an ambiguous name, say)."""

    code = "error"

    def body(self) -> dict[str, Any]:
        return {}


def _restore_error(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class PicklableError(StockTeacherError):
    """Errors with keyword-only constructor arguments that survive pickling (Ray ships task
    errors between processes): rebuilt from their args and attributes, not their signature."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


class SetupError(StockTeacherError):
    """The work cannot start here, whatever its input: a setting, the Ray address, a database
    that is unreachable or not migrated. Its message is one line that says what to do; commands
    and jobs exit 2 on it (`settings.SettingsError`, `cluster.runtime.ClusterAddressError`,
    `store.health.DatabaseNotReady`)."""

    code = "setup"


class NotFound(StockTeacherError):
    """The thing does not exist, or is not the caller's to see (the two look the same)."""

    code = "not_found"


class Conflict(StockTeacherError):
    """The request clashes with what is stored (already subscribed, already verified, …)."""

    code = "conflict"


class InvalidRequest(StockTeacherError, ValueError):
    """The request is well-formed but cannot be carried out as asked."""

    code = "invalid"


class Forbidden(StockTeacherError):
    """The caller may not do this (a reader asking for drafts, a non-admin managing users)."""

    code = "forbidden"

"""The root of StockTeacher's exception trees."""

from __future__ import annotations

from typing import Any

__all__ = ["PicklableError", "SetupError"]


def _restore_error(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class PicklableError(Exception):
    """Errors with keyword-only constructor arguments that survive pickling (Ray ships task
    errors between processes): rebuilt from their args and attributes, not their signature."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


class SetupError(Exception):
    """The work cannot start here, whatever its input: a setting, the Ray address, a database
    that is unreachable or not migrated. Its message is one line that says what to do; commands
    and jobs exit 2 on it (`settings.SettingsError`, `cluster.runtime.ClusterAddressError`,
    `store.health.DatabaseNotReady`)."""

    code = "setup"

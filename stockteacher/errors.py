"""The root of StockTeacher's exception trees."""

from __future__ import annotations

from typing import Any

__all__ = ["PicklableError"]


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

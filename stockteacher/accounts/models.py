"""The account tables, and who is calling (`Principal`)."""

from __future__ import annotations

from dataclasses import dataclass

from stockteacher.store.models import ApiKey, User

__all__ = ["DEMO_USER", "ROLES", "ApiKey", "Principal", "User"]

DEMO_USER = "demo-user"
"""Who single-user mode serves: the one person at the keyboard, an admin."""

ROLES = ("user", "admin")


@dataclass(frozen=True)
class Principal:
    """The caller of a service function: every service checks ownership and visibility with it."""

    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

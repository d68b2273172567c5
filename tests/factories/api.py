"""What API tests share: the users the `users` fixture makes, and an error response's detail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ApiUsers", "detail"]


@dataclass
class ApiUsers:
    """Authorization headers of two users and an admin, each with an API key of their own."""

    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]


def detail(response: Any) -> str:
    """The `detail` message of an error response (asserting that there is one)."""
    body = response.json()
    assert isinstance(body.get("detail"), str), body
    return body["detail"]

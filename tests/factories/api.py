"""What API tests share: the users the `users` fixture makes, an error response's detail, and
the contract's checks of timestamps, id lists and error bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ISO_WITH_ZONE", "ApiUsers", "detail", "error", "ids", "timestamp"]


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


ISO_WITH_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def timestamp(value: Any) -> datetime:
    """An ISO-8601 timestamp that names its zone (`Z` or `±hh:mm`), parsed."""
    assert isinstance(value, str) and ISO_WITH_ZONE.match(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["insight_id"] for item in response.json()]


def error(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return detail(response)

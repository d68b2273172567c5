"""Who may see which report, decided once for every way of reaching one.

A report is `published`, `draft` (kept back by the materializer's quality checks) or `hidden`
(taken down by an admin). Readers see published reports only; admins see every status. The
list, detail, related reports, search, the sentiment series, favourites and chat all ask here,
so a report an admin hid is gone everywhere at once, for everyone else.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from stockteacher.store.models import Report

__all__ = ["PUBLISHED", "STATUSES", "may_see", "visible"]

PUBLISHED, DRAFT, HIDDEN = "published", "draft", "hidden"
STATUSES = (DRAFT, PUBLISHED, HIDDEN)


def may_see(status: str, *, is_admin: bool) -> bool:
    """Whether a reader (or an admin) may see a report with this status."""
    return is_admin or status == PUBLISHED


def visible(stmt: Select[Any], *, is_admin: bool) -> Select[Any]:
    """`stmt` over `Report` narrowed to what the caller may see (admins: unchanged)."""
    return stmt if is_admin else stmt.where(Report.status == PUBLISHED)

"""Dependencies shared by the routers: settings, a database session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from stockteacher.api.auth import Principal, current_user, require_admin
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope

__all__ = ["Admin", "AppSettings", "Caller", "Db", "get_settings"]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    with session_scope(request.app.state.settings.dsn) as session:
        yield session


def get_admin(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
    return require_admin(principal)


AppSettings = Annotated[Settings, Depends(get_settings)]
Db = Annotated[Session, Depends(get_db)]
Caller = Annotated[Principal, Depends(current_user)]
Admin = Annotated[Principal, Depends(get_admin)]

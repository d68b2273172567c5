"""Who is calling an HTTP route: the owner of the `Authorization: Bearer <key>` key; in
single-user mode (`AUTH_MODE=single_user`, only on a loopback address) requests without a key
act as `demo-user`, who is an admin: the one person at the keyboard owns everything on the
machine. Users and keys themselves are `stockteacher.accounts`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from stockteacher.accounts.models import DEMO_USER, Principal
from stockteacher.accounts.service import authenticate_key, cached_principal, remember_principal
from stockteacher.settings import Settings, SettingsError

__all__ = [
    "bearer_token",
    "current_user",
    "is_loopback",
    "principal_from_headers",
    "require_admin",
    "require_loopback_for_single_user",
    "websocket_user",
]


def is_loopback(host: str) -> bool:
    from stockteacher.api.security import is_loopback_host

    return is_loopback_host(host)


def require_loopback_for_single_user(settings: Settings, host: str | None = None) -> None:
    """Refuse to serve without keys on anything but a loopback address."""
    host = host or settings.api_host
    if settings.auth_mode == "single_user" and not is_loopback(host):
        raise SettingsError(
            f"AUTH_MODE=single_user serves everyone as {DEMO_USER} without a key, so it binds to "
            f"loopback only; API_HOST={host!r} is not a loopback address. Set AUTH_MODE=api_key "
            "and create keys with `stockteacher users create NAME`."
        )


def bearer_token(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="missing or invalid API key: send 'Authorization: Bearer <key>'",
    headers={"WWW-Authenticate": "Bearer"},
)


async def principal_from_headers(
    settings: Settings, authorization: str | None, client_host: str | None, query_token: str | None = None
) -> Principal:
    """Who is calling: the key's owner; in single-user mode `demo-user` when no key is sent."""
    token = bearer_token(authorization) or query_token
    if token:
        hit, principal = cached_principal(settings, token)
        if not hit:
            principal = await run_in_threadpool(authenticate_key, settings.dsn, token)
            remember_principal(settings, token, principal)
        if principal is None:
            raise UNAUTHORIZED
        return principal
    if settings.auth_mode == "single_user":
        if client_host and not is_loopback(client_host):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "single-user mode answers local requests only; send an API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Principal(user_id=DEMO_USER, role="admin")
    raise UNAUTHORIZED


_bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key from `stockteacher users create NAME` (not needed in single-user mode).",
)


async def current_user(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)]
) -> Principal:
    """FastAPI dependency for every `/api/*` route (and the OpenAPI document's Bearer scheme)."""
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else None
    return await principal_from_headers(settings, request.headers.get("authorization"), client)


async def websocket_user(websocket: WebSocket) -> Principal:
    """The WebSocket's caller: the `Authorization` header, or `?access_token=` for browsers."""
    settings: Settings = websocket.app.state.settings
    client = websocket.client.host if websocket.client else None
    return await principal_from_headers(
        settings, websocket.headers.get("authorization"), client, websocket.query_params.get("access_token")
    )


def require_admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin key")
    return principal

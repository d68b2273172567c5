"""Accounts and API keys.

A key looks like `stk_<key id>_<secret>` and is shown once, when it is made; the database keeps
only its sha256 (keys are 256-bit random, so a plain hash is enough: there is nothing to guess).
Requests carry `Authorization: Bearer <key>`. In single-user mode (`AUTH_MODE=single_user`, only
on a loopback address) requests without a key act as `demo-user`, who is an admin: the one
person at the keyboard owns everything on the machine.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from stockteacher.settings import Settings, SettingsError
from stockteacher.store.db import session_scope
from stockteacher.store.models import ApiKey, User, utcnow

__all__ = [
    "DEMO_USER",
    "Principal",
    "UserError",
    "authenticate_key",
    "create_user",
    "ensure_user",
    "hash_key",
    "is_loopback",
    "principal_from_headers",
    "require_loopback_for_single_user",
]

DEMO_USER = "demo-user"
ROLES = ("user", "admin")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class UserError(ValueError):
    """A user name or role that cannot be used; the message says why."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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


def ensure_user(dsn: str, user_id: str, role: str = "user") -> None:
    """Create the user row if it does not exist (single-user mode's `demo-user`)."""
    try:
        with session_scope(dsn) as session:
            if session.get(User, user_id) is None:
                session.add(User(user_id=user_id, role=role, created_at=utcnow()))
    except IntegrityError:
        pass  # another replica created it first


def create_user(settings: Settings, name: str, role: str = "user") -> tuple[str, str]:
    """Create a user and a first key; returns `(user_id, key)`. The key is never stored."""
    user_id = name.strip().lower()
    if not _NAME.match(user_id):
        raise UserError(
            f"user name {name!r}: use 2-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    key_id = secrets.token_hex(6)
    key = f"stk_{key_id}_{secrets.token_urlsafe(32)}"
    try:
        with session_scope(settings.dsn) as session:
            if session.get(User, user_id) is not None:
                raise UserError(f"user {user_id!r} already exists; use `stockteacher users add-key {user_id}`")
            session.add(User(user_id=user_id, role=role, created_at=utcnow()))
            session.flush()
            session.add(ApiKey(key_id=key_id, user_id=user_id, key_hash=hash_key(key), created_at=utcnow()))
    except IntegrityError as exc:
        raise UserError(f"user {user_id!r} already exists") from exc
    return user_id, key


def add_key(settings: Settings, user_id: str) -> str:
    """Another key for an existing user (keys can be rotated without downtime)."""
    key_id = secrets.token_hex(6)
    key = f"stk_{key_id}_{secrets.token_urlsafe(32)}"
    with session_scope(settings.dsn) as session:
        if session.get(User, user_id) is None:
            raise UserError(f"no user {user_id!r}")
        session.add(ApiKey(key_id=key_id, user_id=user_id, key_hash=hash_key(key), created_at=utcnow()))
    return key


def revoke_keys(settings: Settings, user_id: str) -> int:
    """Revoke every key of the user: at once in this process, within `API_AUTH_CACHE_SECONDS`
    in API processes elsewhere."""
    with session_scope(settings.dsn) as session:
        result = session.execute(
            update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        count = int(result.rowcount or 0)
    with _cache_lock:
        _key_cache.clear()
    return count


def list_users(settings: Settings) -> list[dict[str, object]]:
    with session_scope(settings.dsn) as session:
        rows = session.execute(select(User).order_by(User.user_id)).scalars().all()
        return [{"user_id": u.user_id, "role": u.role, "created_at": u.created_at.isoformat()} for u in rows]


def authenticate_key(dsn: str, key: str) -> Principal | None:
    """The key's user, or None for an unknown, revoked or disabled key."""
    if not key.startswith("stk_") or len(key) > 200:
        return None
    with session_scope(dsn) as session:
        row = session.execute(
            select(ApiKey.user_id, User.role)
            .join(User, User.user_id == ApiKey.user_id)
            .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None), User.disabled_at.is_(None))
        ).first()
        if row is None:
            return None
        return Principal(user_id=row.user_id, role=row.role)


# Known keys for API_AUTH_CACHE_SECONDS, so that a request does not pay a database round trip
# to learn who is calling (unknown keys are never cached: they always ask the database).
_key_cache: TTLCache[tuple[str, str], tuple[Principal, float]] = TTLCache(maxsize=10_000, ttl=3600)
_cache_lock = threading.Lock()


def cached_principal(settings: Settings, key: str) -> tuple[bool, Principal | None]:
    """`(hit, principal)` from the short per-process cache of key lookups."""
    if settings.api_auth_cache_seconds <= 0:
        return False, None
    with _cache_lock:
        entry = _key_cache.get((settings.dsn, hash_key(key)))
    if entry is None:
        return False, None
    principal, stored_at = entry
    if stored_at + settings.api_auth_cache_seconds < _now():
        return False, None
    return True, principal


def remember_principal(settings: Settings, key: str, principal: Principal | None) -> None:
    if settings.api_auth_cache_seconds > 0 and principal is not None:
        with _cache_lock:
            _key_cache[(settings.dsn, hash_key(key))] = (principal, _now())


def _now() -> float:
    import time

    return time.monotonic()


def _bearer(authorization: str | None) -> str | None:
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
    token = _bearer(authorization) or query_token
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

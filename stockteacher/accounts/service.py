"""Users and API keys, for the CLI (`stockteacher users …`) and the API's authentication.

A key looks like `stk_<key id>_<secret>` and is shown once, when it is made; the database keeps
only its sha256 (keys are 256-bit random, so a plain hash is enough: there is nothing to guess).
Known keys are remembered for `API_AUTH_CACHE_SECONDS` per process, so a request does not pay a
database round trip to learn who is calling; unknown keys always ask the database.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time

from cachetools import TTLCache
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockteacher.accounts.models import ROLES, ApiKey, Principal, User
from stockteacher.core.errors import Conflict, InvalidRequest, NotFound
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import utcnow

__all__ = [
    "UserError",
    "add_key",
    "authenticate_key",
    "cached_principal",
    "create_user",
    "ensure_user",
    "hash_key",
    "list_users",
    "remember_principal",
    "revoke_keys",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class UserError(InvalidRequest):
    """A user name or role that cannot be used; the message says why."""


class UserExists(UserError, Conflict):
    code = "conflict"


class NoSuchUser(UserError, NotFound):
    code = "not_found"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(6)
    return key_id, f"stk_{key_id}_{secrets.token_urlsafe(32)}"


def ensure_user(dsn: str, user_id: str, role: str = "user") -> None:
    """Create the user row if it does not exist (single-user mode's `demo-user`)."""
    try:
        with session_scope(dsn) as session:
            if session.get(User, user_id) is None:
                session.add(User(user_id=user_id, role=role, created_at=utcnow()))
    except IntegrityError:
        pass  # another replica created it first


def ensure_user_row(user_id: str, role: str, *, db_session: Session) -> User:
    """The user's row in this transaction, made if missing (a key-less caller saving a policy)."""
    user = db_session.get(User, user_id)
    if user is None:
        user = User(user_id=user_id, role=role, created_at=utcnow())
        db_session.add(user)
    return user


def create_user(settings: Settings, name: str, role: str = "user") -> tuple[str, str]:
    """Create a user and a first key; returns `(user_id, key)`. The key is never stored."""
    user_id = name.strip().lower()
    if not _NAME.match(user_id):
        raise UserError(
            f"user name {name!r}: use 2-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    key_id, key = _new_key()
    try:
        with session_scope(settings.dsn) as session:
            if session.get(User, user_id) is not None:
                raise UserExists(f"user {user_id!r} already exists; use `stockteacher users add-key {user_id}`")
            session.add(User(user_id=user_id, role=role, created_at=utcnow()))
            session.flush()
            session.add(ApiKey(key_id=key_id, user_id=user_id, key_hash=hash_key(key), created_at=utcnow()))
    except IntegrityError as exc:
        raise UserExists(f"user {user_id!r} already exists") from exc
    return user_id, key


def add_key(settings: Settings, user_id: str) -> str:
    """Another key for an existing user (keys can be rotated without downtime)."""
    key_id, key = _new_key()
    with session_scope(settings.dsn) as session:
        if session.get(User, user_id) is None:
            raise NoSuchUser(f"no user {user_id!r}")
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


def user_locale(user_id: str, default: str, *, db_session: Session) -> str:
    user = db_session.get(User, user_id)
    return (user.locale if user else None) or default


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
    if stored_at + settings.api_auth_cache_seconds < time.monotonic():
        return False, None
    return True, principal


def remember_principal(settings: Settings, key: str, principal: Principal | None) -> None:
    if settings.api_auth_cache_seconds > 0 and principal is not None:
        with _cache_lock:
            _key_cache[(settings.dsn, hash_key(key))] = (principal, time.monotonic())

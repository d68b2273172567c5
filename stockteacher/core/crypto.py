"""Secrets at rest: channel URLs and webhook secrets are sealed with Fernet (AES-128-CBC and
HMAC-SHA256, from `cryptography`) under `SECRET_KEY` before they reach the database.

`SECRET_KEY` holds one key, or several separated by commas while keys are rotated: the first
seals, every one opens (`MultiFernet`). A value sealed under a key that is no longer listed
cannot be opened; the error says so without showing either.

    keys = "new-key,old-key"
    token = seal(keys, "tgram://123:abc/456")
    open_sealed(keys, token)  # "tgram://123:abc/456"
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from stockteacher.core.errors import SetupError

__all__ = ["KEY_MISSING", "SealedUnreadable", "check_keys", "mask_url", "new_key", "open_sealed", "reseal", "seal"]

KEY_MISSING = (
    "SECRET_KEY is not set, so channel secrets cannot be stored encrypted: "
    "add SECRET_KEY=$(stockteacher secret-key) to .env or the environment and restart"
)


UNREADABLE = (
    "a stored channel secret does not open with SECRET_KEY: keep the key it was sealed with "
    "in SECRET_KEY (after the new one) or set the channel up again"
)


class SealedUnreadable(SetupError):
    """A stored secret does not open with any key in SECRET_KEY."""


def new_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def _parts(keys: str) -> list[str]:
    return [part.strip() for part in keys.split(",") if part.strip()]


def check_keys(keys: str) -> None:
    """Raise a ValueError naming the first unusable key by position (never by value)."""
    parts = _parts(keys)
    if not parts:
        raise ValueError("give at least one key; make one with `stockteacher secret-key`")
    for index, part in enumerate(parts, start=1):
        try:
            Fernet(part.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                f"key {index} of {len(parts)} is not a Fernet key (32 url-safe base64 bytes); "
                "make one with `stockteacher secret-key`"
            ) from None


@lru_cache(maxsize=8)
def _multi(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(part.encode("ascii")) for part in _parts(keys)])


def _fernet(keys: str | None) -> MultiFernet:
    if not keys:
        raise SetupError(KEY_MISSING)
    return _multi(keys)


def seal(keys: str | None, plaintext: str) -> str:
    """`plaintext` encrypted under the first key; SetupError when no key is set."""
    return _fernet(keys).encrypt(plaintext.encode("utf-8")).decode("ascii")


def open_sealed(keys: str | None, token: str) -> str:
    """The plaintext of a sealed value; SetupError when no key is set or none opens it."""
    try:
        return _fernet(keys).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SealedUnreadable(UNREADABLE) from None


def reseal(keys: str | None, token: str) -> str:
    """`token` sealed again under the first key (it may have been sealed under any listed key)."""
    try:
        return _fernet(keys).rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SealedUnreadable(UNREADABLE) from None


def mask_url(url: str) -> str:
    """A URL as the API shows it: scheme and host, and of the rest only the last four characters
    (`https://hooks.example.com/…a1b2`); webhook paths often carry the receiver's token."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "…"
    host, slash, tail = rest.partition("/")
    host = host.rpartition("@")[2]  # user:password@ never shown
    if not slash or not tail:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}/…{tail[-4:]}" if len(tail) > 4 else f"{scheme}://{host}/…"

"""De-duplication keystores: Redis with an in-memory fallback.

A collector *claims* each fingerprint before saving it, and *confirms* its claims once its
transaction has committed. The invariant: a fingerprint is marked stored (for
`DEDUP_REDIS_TTL_SECONDS`) only after its row is in the database. Before that it is a claim:

- owned — its value is the claimant (`<trace_id>:<source>`: the same for every Ray retry of one
  collector), so a retry of a collector that was SIGKILLed between its claims and its commit
  claims the same fingerprints again and stores them;
- leased — it expires after `DEDUP_CLAIM_LEASE_SECONDS`, so claims of a collector that died
  and was never retried hold nothing back for longer than that;
- released at once when the save fails.

A claim held by another live claimant means someone else is storing that article right now
(two collectors of one ticker): it is skipped as a duplicate. When Redis does not answer,
claims go to a per-process memory store (`dedupe.keystore.memory`), and the database's unique
constraint remains the last guard against storing anything twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

import redis
import redis.exceptions

from stockteacher.logs import get_logger

__all__ = ["FallbackKeystore", "Keystore", "MemoryKeystore", "RedisKeystore", "dedupe_key"]

log = get_logger(__name__)
PREFIX = "dedupe:"
STORED = "stored"
DEFAULT_LEASE_SECONDS = 600


def dedupe_key(scope: str, ticker: str, fingerprint: str) -> str:
    """`dedupe:<database instance id>:<ticker>:<fingerprint>`: scoped by database, so that a
    new or reset database does not inherit another one's "already seen" marks."""
    return f"{PREFIX}{scope}:{ticker}:{fingerprint}"


def _anyone() -> str:
    return f"anon:{uuid.uuid4().hex}"


class Keystore(Protocol):
    backend: str

    def claim(self, keys: Sequence[str], *, owner: str | None = None) -> list[bool]:
        """For each key, True if `owner` holds its claim now (it was free, or already
        `owner`'s); False if it is stored, or claimed by someone else."""

    def confirm(self, keys: Sequence[str]) -> None:
        """The claimed keys' rows are committed: mark them stored for the full TTL."""

    def release(self, keys: Sequence[str], *, owner: str | None = None) -> None:
        """Forget `owner`'s claims on articles that were not saved."""


class MemoryKeystore:
    """TTL'd claims and stored marks in this process."""

    backend = "memory"

    def __init__(self, ttl_seconds: int, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self.lease_seconds = min(lease_seconds, ttl_seconds)
        self._entries: dict[str, tuple[float, str]] = {}  # key → (expiry, owner or STORED)
        self._lock = threading.Lock()

    def claim(self, keys: Sequence[str], *, owner: str | None = None) -> list[bool]:
        owner = owner or _anyone()
        now = time.monotonic()
        out = []
        mine: set[str] = set()
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            for key in keys:
                expiry, holder = self._entries.get(key, (0.0, ""))
                free = expiry <= now or (holder == owner and key not in mine)
                if free:
                    self._entries[key] = (now + self.lease_seconds, owner)
                    mine.add(key)
                out.append(free)
        return out

    def confirm(self, keys: Sequence[str]) -> None:
        until = time.monotonic() + self.ttl_seconds
        with self._lock:
            for key in keys:
                self._entries[key] = (until, STORED)

    def release(self, keys: Sequence[str], *, owner: str | None = None) -> None:
        with self._lock:
            for key in keys:
                if owner is None or self._entries.get(key, (0.0, ""))[1] == owner:
                    self._entries.pop(key, None)


# One key per call (so that it works on Redis Cluster too): claim if free, or re-claim our own.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 2 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisKeystore:
    backend = "redis"

    def __init__(self, client: redis.Redis, ttl_seconds: int, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.lease_seconds = min(lease_seconds, ttl_seconds)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def claim(self, keys: Sequence[str], *, owner: str | None = None) -> list[bool]:
        if not keys:
            return []
        owner = owner or _anyone()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            self._claim(keys=[key], args=[owner, self.lease_seconds], client=pipe)
        results = pipe.execute()
        out, seen = [], set()
        for key, result in zip(keys, results, strict=True):
            fresh = bool(result) and key not in seen  # a key repeated in one batch is claimed once
            seen.add(key)
            out.append(fresh)
        return out

    def confirm(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, STORED, ex=self.ttl_seconds)
        pipe.execute()

    def release(self, keys: Sequence[str], *, owner: str | None = None) -> None:
        if not keys:
            return
        if owner is None:
            self.client.delete(*keys)
            return
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            self._release(keys=[key], args=[owner], client=pipe)
        pipe.execute()


_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class FallbackKeystore:
    """Redis while it answers; the memory store while it does not (retried after a pause)."""

    def __init__(
        self,
        redis_url: str,
        ttl_seconds: int,
        *,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        socket_timeout: float = 1.0,
        retry_redis_after_seconds: float = 15.0,
    ) -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self.redis = RedisKeystore(client, ttl_seconds, lease_seconds=lease_seconds)
        self.memory = MemoryKeystore(ttl_seconds, lease_seconds=lease_seconds)
        self.retry_redis_after_seconds = retry_redis_after_seconds
        self._redis_down_until = 0.0
        self.backend = "redis"

    def _use_memory(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + self.retry_redis_after_seconds
        self.backend = "memory"
        log.warning("dedupe.keystore.memory", reason=f"{type(exc).__name__}: {exc}"[:200])

    def claim(self, keys: Sequence[str], *, owner: str | None = None) -> list[bool]:
        if not keys:
            return []
        if time.monotonic() >= self._redis_down_until:
            try:
                claimed = self.redis.claim(keys, owner=owner)
            except _REDIS_DOWN as exc:
                self._use_memory(exc)
            else:
                self.backend = "redis"
                log.info("dedupe.keystore.redis", keys=len(keys), new=sum(claimed))
                return claimed
        else:
            log.info("dedupe.keystore.memory", keys=len(keys), reason="redis unavailable")
        return self.memory.claim(keys, owner=owner)

    def confirm(self, keys: Sequence[str]) -> None:
        self.memory.confirm(keys)
        if self.backend == "redis":
            try:
                self.redis.confirm(keys)
            except _REDIS_DOWN as exc:  # the claims expire with their lease; the DB still guards
                self._use_memory(exc)

    def release(self, keys: Sequence[str], *, owner: str | None = None) -> None:
        self.memory.release(keys, owner=owner)
        if self.backend == "redis":
            try:
                self.redis.release(keys, owner=owner)
            except _REDIS_DOWN as exc:
                self._use_memory(exc)

    def close(self) -> None:
        self.redis.client.close()

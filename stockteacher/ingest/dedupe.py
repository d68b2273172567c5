"""De-duplication keystores: Redis (`SET NX EX`) with an in-memory fallback.

A collector *claims* each fingerprint before saving it; a claim that fails means another
collector (or an earlier run within `DEDUP_REDIS_TTL_SECONDS`) already has the article. Claims
for articles that could not be saved are released, so a failed save loses nothing. When Redis
does not answer, claims go to a per-process memory store (`dedupe.keystore.memory`), and the
database's unique constraint remains the last guard against storing anything twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import redis
import redis.exceptions

from stockteacher.logs import get_logger

__all__ = ["FallbackKeystore", "Keystore", "MemoryKeystore", "RedisKeystore", "dedupe_key"]

log = get_logger(__name__)
PREFIX = "dedupe:"


def dedupe_key(scope: str, ticker: str, fingerprint: str) -> str:
    """`dedupe:<database instance id>:<ticker>:<fingerprint>`: scoped by database, so that a
    new or reset database does not inherit another one's "already seen" marks."""
    return f"{PREFIX}{scope}:{ticker}:{fingerprint}"


class Keystore(Protocol):
    backend: str

    def claim(self, keys: Sequence[str]) -> list[bool]:
        """For each key, True if this caller claimed it first (i.e. it is new)."""

    def release(self, keys: Sequence[str]) -> None:
        """Forget claims whose articles were not saved."""


class MemoryKeystore:
    """A TTL'd set of keys in this process."""

    backend = "memory"

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, keys: Sequence[str]) -> list[bool]:
        now = time.monotonic()
        out = []
        with self._lock:
            if len(self._expiry) > 100_000:
                self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            for key in keys:
                if self._expiry.get(key, 0.0) > now:
                    out.append(False)
                else:
                    self._expiry[key] = now + self.ttl_seconds
                    out.append(True)
        return out

    def release(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._expiry.pop(key, None)


class RedisKeystore:
    backend = "redis"

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    def claim(self, keys: Sequence[str]) -> list[bool]:
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, "1", nx=True, ex=self.ttl_seconds)
        return [bool(result) for result in pipe.execute()]

    def release(self, keys: Sequence[str]) -> None:
        if keys:
            self.client.delete(*keys)


class FallbackKeystore:
    """Redis while it answers; the memory store while it does not (retried after a pause)."""

    def __init__(
        self, redis_url: str, ttl_seconds: int, *, socket_timeout: float = 1.0, retry_redis_after_seconds: float = 15.0
    ) -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self.redis = RedisKeystore(client, ttl_seconds)
        self.memory = MemoryKeystore(ttl_seconds)
        self.retry_redis_after_seconds = retry_redis_after_seconds
        self._redis_down_until = 0.0
        self.backend = "redis"

    def _use_memory(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + self.retry_redis_after_seconds
        self.backend = "memory"
        log.warning("dedupe.keystore.memory", reason=f"{type(exc).__name__}: {exc}"[:200])

    def claim(self, keys: Sequence[str]) -> list[bool]:
        if not keys:
            return []
        if time.monotonic() >= self._redis_down_until:
            try:
                claimed = self.redis.claim(keys)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._use_memory(exc)
            else:
                self.backend = "redis"
                log.info("dedupe.keystore.redis", keys=len(keys), new=sum(claimed))
                return claimed
        else:
            log.info("dedupe.keystore.memory", keys=len(keys), reason="redis unavailable")
        return self.memory.claim(keys)

    def release(self, keys: Sequence[str]) -> None:
        self.memory.release(keys)
        if self.backend == "redis":
            try:
                self.redis.release(keys)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._use_memory(exc)

    def close(self) -> None:
        self.redis.client.close()

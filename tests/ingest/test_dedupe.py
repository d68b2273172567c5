"""De-duplication keystores: in memory, in Redis (`SET NX EX`), and Redis with a memory fallback."""

from __future__ import annotations

import io
import json
import logging
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import structlog

from stockteacher.ingest import dedupe
from stockteacher.ingest.collect import collect_core
from stockteacher.ingest.dedupe import FallbackKeystore, MemoryKeystore, RedisKeystore, dedupe_key
from stockteacher.logs import configure_logging
from stockteacher.settings import Settings

UNREACHABLE = "redis://127.0.0.1:1/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A controllable `time.monotonic` for the dedupe module only."""
    fake = FakeClock()
    monkeypatch.setattr(dedupe, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def log_stream(make_settings: Callable[..., Settings]) -> Iterator[io.StringIO]:
    """JSON log lines of this test, as configured by the product's `configure_logging`."""
    stream = io.StringIO()
    configure_logging(make_settings(log_json=True), stream=stream)
    yield stream
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "stockteacher":
            root.removeHandler(handler)


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


# --- dedupe_key ------------------------------------------------------------------------------


def test_dedupe_key_is_prefixed_and_scoped() -> None:
    key = dedupe_key("db-1", "AAPL", "ab" * 32)
    assert key == f"dedupe:db-1:AAPL:{'ab' * 32}"
    assert key.startswith("dedupe:")
    assert dedupe_key("db-2", "AAPL", "ab" * 32) != key
    assert dedupe_key("db-1", "MSFT", "ab" * 32) != key


# --- MemoryKeystore --------------------------------------------------------------------------


def test_memory_first_claim_wins_second_loses() -> None:
    store = MemoryKeystore(60)
    assert store.backend == "memory"
    assert store.claim(["dedupe:a", "dedupe:b"]) == [True, True]
    assert store.claim(["dedupe:a", "dedupe:b", "dedupe:c"]) == [False, False, True]


def test_memory_repeated_key_in_one_batch_is_claimed_once() -> None:
    assert MemoryKeystore(60).claim(["dedupe:a", "dedupe:a"]) == [True, False]


def test_memory_claim_of_nothing_is_empty() -> None:
    assert MemoryKeystore(60).claim([]) == []


def test_memory_release_forgets_claims() -> None:
    store = MemoryKeystore(60)
    store.claim(["dedupe:a", "dedupe:b"])
    store.release(["dedupe:a", "dedupe:never-claimed"])
    assert store.claim(["dedupe:a", "dedupe:b"]) == [True, False]


def test_memory_claims_expire_after_ttl(clock: FakeClock) -> None:
    store = MemoryKeystore(1)
    assert store.claim(["dedupe:a"]) == [True]
    clock.now += 0.5
    assert store.claim(["dedupe:a"]) == [False]
    clock.now += 0.6  # 1.1 s after the claim
    assert store.claim(["dedupe:a"]) == [True]
    assert store.claim(["dedupe:a"]) == [False]


# --- RedisKeystore ---------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_first_claim_wins_second_loses(client: redis.Redis) -> None:
    store = RedisKeystore(client, 60)
    assert store.backend == "redis"
    keys = [dedupe_key("scope", "AAPL", "f1"), dedupe_key("scope", "AAPL", "f2")]
    assert store.claim(keys) == [True, True]
    assert store.claim(keys + [dedupe_key("scope", "AAPL", "f3")]) == [False, False, True]


@pytest.mark.redis
def test_redis_claims_are_shared_between_clients(redis_url: str) -> None:
    one = redis.Redis.from_url(redis_url)
    two = redis.Redis.from_url(redis_url)
    try:
        key = dedupe_key("scope", "AAPL", "shared")
        assert RedisKeystore(one, 60).claim([key]) == [True]
        assert RedisKeystore(two, 60).claim([key]) == [False]
    finally:
        one.close()
        two.close()


@pytest.mark.redis
def test_redis_repeated_key_in_one_batch_is_claimed_once(client: redis.Redis) -> None:
    key = dedupe_key("scope", "AAPL", "twice")
    assert RedisKeystore(client, 60).claim([key, key]) == [True, False]


@pytest.mark.redis
def test_redis_claim_of_nothing_is_empty(client: redis.Redis) -> None:
    assert RedisKeystore(client, 60).claim([]) == []
    assert client.dbsize() == 0


@pytest.mark.redis
def test_redis_claims_carry_the_ttl(client: redis.Redis) -> None:
    keys = [dedupe_key("scope", "AAPL", f"f{i}") for i in range(3)]
    RedisKeystore(client, 120).claim(keys)
    for key in keys:
        assert 0 < client.ttl(key) <= 120


@pytest.mark.redis
def test_redis_second_claim_does_not_extend_ttl(client: redis.Redis) -> None:
    key = dedupe_key("scope", "AAPL", "nx")
    store = RedisKeystore(client, 100)
    store.claim([key])
    client.expire(key, 50)
    assert RedisKeystore(client, 1000).claim([key]) == [False]
    assert 0 < client.ttl(key) <= 50


@pytest.mark.redis
def test_redis_release_deletes_keys(client: redis.Redis) -> None:
    store = RedisKeystore(client, 60)
    keys = [dedupe_key("scope", "AAPL", "r1"), dedupe_key("scope", "AAPL", "r2")]
    store.claim(keys)
    store.release(keys[:1])
    assert client.exists(keys[0]) == 0 and client.exists(keys[1]) == 1
    assert store.claim(keys) == [True, False]


@pytest.mark.redis
def test_collect_writes_prefixed_keys_with_ttl_to_redis(
    make_settings: Callable[..., Settings], sqlite_dsn: str, redis_url: str, client: redis.Redis
) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn, ingestion_redis_url=redis_url, dedup_redis_ttl_seconds=300)
    counts = collect_core("AAPL", "sample", settings=settings)
    keys = client.keys("*")
    assert len(keys) == counts["unique"] == counts["saved"] > 0
    assert all(k.startswith("dedupe:") and ":AAPL:" in k for k in keys)
    assert all(0 < client.ttl(k) <= 300 for k in keys)
    assert collect_core("AAPL", "sample", settings=settings)["unique"] == 0


# --- FallbackKeystore ------------------------------------------------------------------------


def test_fallback_uses_memory_when_redis_is_unreachable(log_stream: io.StringIO) -> None:
    store = FallbackKeystore(UNREACHABLE, 60, socket_timeout=0.2)
    try:
        assert store.claim(["dedupe:x:AAPL:1", "dedupe:x:AAPL:2"]) == [True, True]
        assert store.backend == "memory"
        # the memory store still de-duplicates
        assert store.claim(["dedupe:x:AAPL:1", "dedupe:x:AAPL:3"]) == [False, True]
        store.release(["dedupe:x:AAPL:1"])
        assert store.claim(["dedupe:x:AAPL:1"]) == [True]
    finally:
        store.close()
    events = [e for e in _events(log_stream) if e["event"].startswith("dedupe.keystore.")]
    assert events and {e["event"] for e in events} == {"dedupe.keystore.memory"}
    assert events[0]["level"] == "warning"
    assert "ConnectionError" in events[0]["reason"]


def test_fallback_does_not_retry_redis_until_the_pause_is_over(
    clock: FakeClock, log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FallbackKeystore(UNREACHABLE, 60, socket_timeout=0.2, retry_redis_after_seconds=15)
    attempts = []
    original = store.redis.claim

    def counting_claim(keys: Any, **kwargs: Any) -> list[bool]:
        attempts.append(list(keys))
        return original(keys, **kwargs)

    monkeypatch.setattr(store.redis, "claim", counting_claim)
    try:
        store.claim(["dedupe:k1"])
        clock.now += 5
        store.claim(["dedupe:k2"])
        assert len(attempts) == 1
        clock.now += 11
        store.claim(["dedupe:k3"])
        assert len(attempts) == 2
    finally:
        store.close()
    assert store.backend == "memory"
    assert [e["event"] for e in _events(log_stream) if e["event"].startswith("dedupe.")] == [
        "dedupe.keystore.memory"
    ] * 3


@pytest.mark.redis
def test_fallback_uses_redis_when_it_answers(redis_url: str, client: redis.Redis, log_stream: io.StringIO) -> None:
    store = FallbackKeystore(redis_url, 60, socket_timeout=0.2)
    try:
        assert store.claim(["dedupe:x:AAPL:1"]) == [True]
        assert store.backend == "redis"
        assert store.claim(["dedupe:x:AAPL:1"]) == [False]
        assert 0 < client.ttl("dedupe:x:AAPL:1") <= 60
        store.release(["dedupe:x:AAPL:1"])
        assert client.exists("dedupe:x:AAPL:1") == 0
    finally:
        store.close()
    events = [e for e in _events(log_stream) if e["event"].startswith("dedupe.keystore.")]
    assert events and {e["event"] for e in events} == {"dedupe.keystore.redis"}
    assert events[0]["keys"] == 1 and events[0]["new"] == 1


def test_collect_logs_memory_fallback_and_records_it(
    make_settings: Callable[..., Settings], sqlite_dsn: str, log_stream: io.StringIO
) -> None:
    from sqlalchemy import select

    from stockteacher.store.db import session_scope
    from stockteacher.store.models import JobRun

    settings = make_settings(postgres_dsn=sqlite_dsn, ingestion_redis_url=UNREACHABLE, redis_socket_timeout_seconds=0.2)
    counts = collect_core("MSFT", "sample", settings=settings)
    assert counts["saved"] > 0
    events = _events(log_stream)
    memory = [e for e in events if e["event"] == "dedupe.keystore.memory"]
    assert memory and memory[0]["ticker"] == "MSFT" and memory[0]["stage"] == "collect"
    with session_scope(sqlite_dsn) as session:
        run = session.scalars(select(JobRun)).one()
    assert run.details is not None and run.details["keystore"] == "memory"


# --- owned, leased claims (a retry after a crash re-claims; a dead claimant's lease runs out) --


def test_memory_a_claimants_retry_claims_its_own_keys_again_others_wait_for_the_lease(clock: FakeClock) -> None:
    store = MemoryKeystore(3600, lease_seconds=60)
    assert store.claim(["dedupe:a", "dedupe:b"], owner="t1:rss") == [True, True]
    assert store.claim(["dedupe:a"], owner="t2:news_api") == [False]  # someone is storing it
    assert store.claim(["dedupe:a", "dedupe:b"], owner="t1:rss") == [True, True]  # the retry after a crash
    clock.now += 61
    assert store.claim(["dedupe:a"], owner="t2:news_api") == [True]  # the lease of a dead claimant ran out


def test_memory_confirmed_keys_are_stored_for_the_ttl_even_for_their_claimant(clock: FakeClock) -> None:
    store = MemoryKeystore(3600, lease_seconds=60)
    store.claim(["dedupe:a"], owner="t1:rss")
    store.confirm(["dedupe:a"])
    clock.now += 61
    assert store.claim(["dedupe:a"], owner="t1:rss") == [False]
    assert store.claim(["dedupe:a"], owner="t2:rss") == [False]
    clock.now += 3600
    assert store.claim(["dedupe:a"], owner="t2:rss") == [True]


def test_memory_release_forgets_only_the_owners_claims() -> None:
    store = MemoryKeystore(3600)
    store.claim(["dedupe:a"], owner="mine")
    store.claim(["dedupe:b"], owner="theirs")
    store.release(["dedupe:a", "dedupe:b"], owner="mine")
    assert store.claim(["dedupe:a", "dedupe:b"], owner="new") == [True, False]


@pytest.mark.redis
def test_redis_owned_claims_leases_and_stored_marks(client: redis.Redis) -> None:
    store = RedisKeystore(client, 3600, lease_seconds=30)
    key = dedupe_key("scope", "AAPL", "f1")
    assert store.claim([key], owner="t1:rss") == [True]
    assert client.get(key) == "t1:rss" and 0 < client.ttl(key) <= 30  # a claim holds for the lease only
    assert store.claim([key], owner="t2:rss") == [False]
    assert store.claim([key], owner="t1:rss") == [True]  # the same claimant's retry
    store.release([key], owner="t2:rss")
    assert client.exists(key) == 1  # not theirs to release
    store.confirm([key])
    assert client.get(key) == "stored" and 30 < client.ttl(key) <= 3600
    assert store.claim([key], owner="t1:rss") == [False]

"""The notification gateway: what one message costs per channel through the outbox, and what a
feed costs to serve.

    python benchmarks/notify_gateway.py [--users 200] [--reports 600] [--admin-dsn postgresql://postgres@127.0.0.1:5432/postgres]

**Deliveries.** For each channel — a Standard Webhooks webhook, and Apprise to local stand-ins
of Telegram, Slack, Discord and ntfy (the servers the tests use, speaking each service's API on
127.0.0.1) — a fresh PostgreSQL database gets `--users` users, each following AAPL with one
verified channel of that kind (sealed with SECRET_KEY as the API stores it), and one urgent
report; then one `notify_core` plans and sends all of them, sequentially, in this process.
Same users, same report, same process, same stand-in process, clock started right before
`notify_core`. Beside it, `raw_ms`: the same number of plain `httpx` POSTs of a similar body to
the same stand-in, one client, sequential — what the local HTTP round trip costs alone, so
`overhead_ms = per_message_ms - raw_ms` is the outbox's and the sender's own work (planning,
the lease, rendering, unsealing, signing or Apprise, marking the row). Nothing is cached between
messages except the connection pool of the raw baseline (Apprise and our webhook sender open a
connection per message, as in production).

**Feeds.** `--reports` published reports over the six demo tickers; `GET /feeds/AAPL.rss`,
`.atom`, `.json` and a user's private feed over all six, through the ASGI app in process
(`TestClient`, sequential, 200 each after 20 warm-ups): the full document, then the same with
`If-None-Match` (a feed reader polling with nothing new: 304, no rendering). No cache answers a
full feed: every one is a query and a render.

The last line is `gateway: …` with the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.core.crypto import new_key, open_sealed, seal  # noqa: E402
from stockteacher.demo import SAMPLE_TICKERS  # noqa: E402
from stockteacher.notify.notifier import notify_core  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
from stockteacher.store.db import dispose_engines, session_scope  # noqa: E402
from stockteacher.store.models import Delivery  # noqa: E402
from tests.factories.notify import WEBHOOK_SECRET, add_report, add_user  # noqa: E402
from tests.factories.reports import insert_reports  # noqa: E402
from tests.servers.chat import ChatServer  # noqa: E402
from tests.servers.discord import DiscordServer  # noqa: E402
from tests.servers.ntfy import NtfyServer  # noqa: E402
from tests.servers.slack import SlackServer  # noqa: E402
from tests.servers.telegram import TelegramServer  # noqa: E402
from tests.servers.webhook import WebhookReceiver  # noqa: E402

KEY = new_key()


def _settings(dsn: str, **extra: Any) -> Settings:
    return Settings(_env_file=None, postgres_dsn=dsn, secret_key=KEY, webhook_allow_private_hosts=True,
                    public_base_url="https://st.example", price_source="off", **extra)  # fmt: skip


def _raw_posts(url: str, n: int) -> float:
    """ms per plain POST of a report-sized JSON body to `url` (one client, sequential)."""
    body = {"text": "[StockTeacher] 애플 긴급 알림: headline\n■ 애플 (AAPL)\n분위기: 중립 (+0.10)\nhttps://st.example/#report=x"}
    with httpx.Client(timeout=10, trust_env=False) as client:
        start = time.perf_counter()
        for _ in range(n):
            client.post(url, json=body)
        return (time.perf_counter() - start) * 1000 / n


def deliveries(admin_dsn: str, channel: str, server: Any, target: str, raw_url: str, users: int,
               overrides: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    dsn, drop = fresh_database(admin_dsn)
    try:
        settings = _settings(dsn, apprise_host_overrides=overrides, apprise_timeout_seconds=10)
        kind = "webhook" if channel == "webhook" else "apprise"
        for i in range(users):
            add_user(settings, f"u{i:04d}", tickers={"AAPL": "intraday"}, channels=(kind,), target=target)
        add_report(settings, 1, "AAPL", anomaly=0.9)
        start = time.perf_counter()
        counts = notify_core(settings, now=datetime.now(UTC))
        wall = time.perf_counter() - start
        with session_scope(dsn) as session:
            statuses = [row.status for row in session.query(Delivery)]
        received = len(server.messages) if isinstance(server, ChatServer) else server.unique_deliveries
        raw = _raw_posts(raw_url, min(users, 200))
    finally:
        dispose_engines()
        drop()
    per_message = wall * 1000 / max(counts["sent"], 1)
    return {"channel": channel, "planned": counts["planned"], "sent": counts["sent"], "received": received,
            "all_sent": statuses.count("sent") == users, "wall_s": round(wall, 2),
            "per_s": round(counts["sent"] / wall, 1), "per_message_ms": round(per_message, 2),
            "raw_ms": round(raw, 2), "overhead_ms": round(per_message - raw, 2)}  # fmt: skip


def _timed(get: Callable[[], Any], n: int = 200) -> tuple[float, float, int]:
    for _ in range(20):
        get()
    samples, status = [], 0
    for _ in range(n):
        start = time.perf_counter()
        response = get()
        samples.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    samples.sort()
    return round(statistics.median(samples), 2), round(samples[int(len(samples) * 0.99) - 1], 2), status


def feeds(admin_dsn: str, reports: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from stockteacher.accounts.service import create_user
    from stockteacher.api.app import create_app

    dsn, drop = fresh_database(admin_dsn)
    out: dict[str, Any] = {}
    try:
        settings = _settings(dsn, auth_mode="api_key")
        now = datetime.now(UTC)
        rows = [{"ticker": SAMPLE_TICKERS[i % len(SAMPLE_TICKERS)], "status": "published",
                 "published_at": now - timedelta(minutes=i), "headline": f"리포트 {i}: 반도체 수출 둔화 우려",
                 "summary_text": "요약 " * 60, "sentiment_score": 0.3, "locale": "ko_KR"}
                for i in range(reports)]  # fmt: skip
        insert_reports(settings, rows)
        _, key = create_user(settings, "reader")
        headers = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(settings)) as client:
            for ticker in SAMPLE_TICKERS:
                body = {"ticker": ticker, "alert_window": "daily_close"}
                client.post("/api/subscriptions", json=body, headers=headers)
            urls = client.post("/api/feeds/token", headers=headers).json()["urls"]
            paths = {f"ticker.{fmt}": f"/feeds/AAPL.{fmt}" for fmt in ("rss", "atom", "json")}
            paths["user.rss"] = httpx.URL(urls["rss"]).path
            for name, path in paths.items():
                first = client.get(path)
                tag = first.headers["etag"]
                full = _timed(lambda path=path: client.get(path))
                cached = _timed(lambda path=path, tag=tag: client.get(path, headers={"If-None-Match": tag}))
                out[name] = {"bytes": len(first.content), "full_p50_ms": full[0], "full_p99_ms": full[1],
                             "status": full[2], "etag_p50_ms": cached[0], "etag_p99_ms": cached[1],
                             "etag_status": cached[2]}  # fmt: skip
    finally:
        dispose_engines()
        drop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--reports", type=int, default=600)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    sealed = seal(KEY, "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321")
    start = time.perf_counter()
    for _ in range(10_000):
        open_sealed(KEY, sealed)
    unseal_us = (time.perf_counter() - start) * 100  # µs each

    results = []
    with WebhookReceiver(secret=WEBHOOK_SECRET) as hook:
        results.append(deliveries(args.admin_dsn, "webhook", hook, hook.url, hook.url, args.users, {}))
    for name, make in (("telegram", TelegramServer), ("slack", SlackServer), ("discord", DiscordServer),
                       ("ntfy", NtfyServer)):  # fmt: skip
        with make() as server:
            host = getattr(server, "host", None)
            overrides = {host: server.origin} if host else {}
            raw_url = f"{server.origin}/raw-baseline"  # answered (404/400) by the same stand-in
            results.append(deliveries(args.admin_dsn, name, server, server.url(), raw_url, args.users, overrides))
    for row in results:
        print(row, flush=True)
    feed = feeds(args.admin_dsn, args.reports)
    for name, row in feed.items():
        print(name, row, flush=True)
    summary = " ".join(f"{r['channel']}={r['per_message_ms']}ms(+{r['overhead_ms']})" for r in results)
    feed_summary = " ".join(f"{n}={r['full_p50_ms']}/{r['etag_p50_ms']}ms" for n, r in feed.items())
    print(f"gateway: users={args.users} unseal_us={unseal_us:.1f} {summary} feeds(full/304 p50) {feed_summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

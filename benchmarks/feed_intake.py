"""Feed intake: how much of the news in real-world feeds the `rss` source keeps, and keeps
right, on a corpus of feeds written the ways publishers write them.

    python benchmarks/feed_intake.py [--every-feed]

The corpus (`tests/factories/feeds.py`): RSS 2.0, Atom 1.0, RSS 1.0 (RDF) and RSS 0.91, each in
UTF-8, EUC-KR, CP949 (with Hangul that EUC-KR lacks), CP949 sent as "EUC-KR", UTF-16 with a byte
order mark, UTF-16LE and UTF-16BE without one, Big5 and Shift_JIS, with the charset declared in
the HTTP header only, in the XML declaration only, in both, or nowhere: 140 feeds of 5 items.
12 one-item feeds of short headlines in Big5, Shift_JIS, CP949 and GB18030, declared nowhere.
Plus a feed mixing good items with one broken item of each kind, a feed of odd dates and one of
headlines with HTML in them, escaped every way feeds escape it.
Everything is served by a local HTTP server on 127.0.0.1 and goes through the real `RssSource`
(httpx, feedparser) and `prepare_articles` (the normalisation and relevance filter `collect` uses).

For each feed: items in, items stored, items read right (stored with exactly the title that was
written and the right date: the UTC instant, or none), items dropped by reason. "feedparser
alone" counts the items `feedparser.parse` reads right when given the response's Content-Type
and nothing else. The last line is
`feed_intake: feeds=<F> items=<N> stored=<S> right=<R> dropped=<D> feedparser_alone_right=<B>`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402
import httpx  # noqa: E402
from pytest_httpserver import HTTPServer  # noqa: E402

from stockteacher.ingest.collect import prepare_articles  # noqa: E402
from stockteacher.logs import configure_logging  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
from stockteacher.sources.rss import RssSource  # noqa: E402
from stockteacher.tickers.registry import lookup  # noqa: E402
from tests.factories.feeds import CorpusFeed, intake_corpus  # noqa: E402
from tests.servers.feeds import FakeFeedServer  # noqa: E402


@dataclass
class Intake:
    feed: str
    items: int
    stored: int
    right: int
    alone_right: int
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def expected(feed: CorpusFeed) -> dict[str, datetime | None]:
    return dict(zip(feed.titles, feed.published, strict=True))


def feedparser_alone(feed: CorpusFeed) -> int:
    want = expected(feed)
    parsed = feedparser.parse(feed.document.body, response_headers={"content-type": feed.document.content_type})
    right = 0
    for entry in parsed.entries:
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        try:
            published = datetime(*stamp[:6], tzinfo=UTC) if stamp else None
        except ValueError:
            published = None
        title = entry.get("title")
        right += title in want and want[title] == published
    return right


def take_in(server: FakeFeedServer, feed: CorpusFeed) -> Intake:
    settings = Settings(
        _env_file=None,
        rss_feed_templates=[f"{server.url}?feed={feed.id}&ticker={{ticker}}"],
        rss_timeout_seconds=5,
        rss_max_retries=0,
    )
    # An explicit transport: httpx then ignores proxy variables, so nothing leaves 127.0.0.1.
    source = RssSource(settings, transport=httpx.AsyncHTTPTransport())
    ticker = lookup(feed.ticker)
    started = time.perf_counter()
    raw = asyncio.run(source.fetch(ticker))
    prepared = prepare_articles(raw, ticker, source_type="rss")
    seconds = time.perf_counter() - started
    want = expected(feed)
    dropped = Counter(prepared.invalid_reasons)
    if prepared.irrelevant:
        dropped["irrelevant"] = prepared.irrelevant
    if prepared.in_batch_duplicates:
        dropped["duplicate"] = prepared.in_batch_duplicates
    right = sum(a.title in want and want[a.title] == a.published_at for a in prepared.articles)
    return Intake(feed.id, len(raw), len(prepared.articles), right, feedparser_alone(feed), dropped, seconds)


def group_of(feed: str) -> str:
    """`rss2.0-cp949-as-euc-kr-header` → `cp949-as-euc-kr`: one row per charset in the summary."""
    if feed in ("mixed", "odd-dates", "html-titles"):
        return feed
    if feed.startswith("short-"):
        return feed.rsplit("-", 1)[0]
    return feed.split("-", 1)[1].rsplit("-", 1)[0]


def _reasons(dropped: Counter[str]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items())) or "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--every-feed", action="store_true", help="one row per feed, not per charset")
    args = parser.parse_args()
    configure_logging(Settings(_env_file=None, structlog_level="ERROR"))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access-log line per request

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        endpoint = FakeFeedServer(server, "/corpus", key="feed")
        feeds = intake_corpus()
        for feed in feeds:
            endpoint.add(feed.id, feed.document)
        intakes = [take_in(endpoint, feed) for feed in feeds]
        server.check_handler_errors()
    finally:
        server.clear()
        server.stop()

    header = "| {} | items in | stored | read right | feedparser alone: read right | dropped by reason |"
    if args.every_feed:
        print(header.format("feed"))
        print("|---|---|---|---|---|---|")
        for row in intakes:
            print(
                f"| {row.feed} | {row.items} | {row.stored} | {row.right} | {row.alone_right} "
                f"| {_reasons(row.dropped)} |"
            )
        print()
    groups: dict[str, list[Intake]] = defaultdict(list)
    for row in intakes:
        groups[group_of(row.feed)].append(row)
    print(header.format("feeds (flavours × declarations)"))
    print("|---|---|---|---|---|---|")
    for name, rows in groups.items():
        dropped = sum((r.dropped for r in rows), Counter())
        print(
            f"| {name} ({len(rows)}) | {sum(r.items for r in rows)} | {sum(r.stored for r in rows)} "
            f"| {sum(r.right for r in rows)} | {sum(r.alone_right for r in rows)} | {_reasons(dropped)} |"
        )
    times = sorted(r.seconds for r in intakes)
    dropped = sum((r.dropped for r in intakes), Counter())
    print(
        f"\nper feed (fetch, parse, normalise): median {times[len(times) // 2] * 1000:.1f} ms, "
        f"max {times[-1] * 1000:.1f} ms"
    )
    print(
        f"feed_intake: feeds={len(intakes)} items={sum(r.items for r in intakes)} "
        f"stored={sum(r.stored for r in intakes)} right={sum(r.right for r in intakes)} "
        f"dropped={sum(dropped.values())} feedparser_alone_right={sum(r.alone_right for r in intakes)}"
    )


if __name__ == "__main__":
    main()

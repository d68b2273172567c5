"""Prompt tokens per report: story clustering + one representative per story, against sending
every article, on the bundled sample data set and on a syndicated one, at equal coverage of
stories.

    python benchmarks/prompt_tokens.py [--seed 5]

Two samples:

- bundled: `sources/data/sample_articles.jsonl` (6 tickers, 80 articles; about a quarter are
  syndicated copies);
- syndicated: generated from it. Each story of the bundled sample (its representative article)
  is published by 3-6 outlets: one verbatim wire copy, the others rewritten the ways outlets
  rewrite a wire story (a "UPDATE 1-" / "[종합]" tag, a different headline case, an
  attribution or an extra sentence in the description, the outlet's own byline and sign-off
  around the body), each at its own URL a few minutes apart. Bodies are not lengthened.

For each ticker the news is collected (the real `collect_core`: normalisation, MinHash,
clustering) into a fresh SQLite database. Prompts are built over the same stories, with no
character budget, so each covers every story (asserted):

- clustered: `build_prompt` — one representative per story (title + trimmed description)
  with its corroboration count;
- naive: the same system prompt, then every collected article with title, description and
  full body, as a pipeline without clustering would send it;
- naive without bodies: every article, title and description only. `clustered / this` is the
  saving that clustering alone makes (the clustering-only ratio, target ≤ 0.6); `clustered /
  naive` also counts leaving the bodies out, which any pipeline could do without clustering.

Tokens are counted with the estimator that the cost cap uses (`estimate_prompt_tokens`). The
last line is `prompt_tokens: sample=syndicated clustered=<N> naive=<M> ratio=<N/M>
naive_no_body=<K> clustering_only_ratio=<N/K>` (averages per report); the line before it is
the same for the bundled sample.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stockteacher.analysis.cost import estimate_prompt_tokens
from stockteacher.analysis.prompts import build_prompt
from stockteacher.analysis.service import load_new_stories
from stockteacher.ingest.collect import collect_core
from stockteacher.logs import configure_logging
from stockteacher.settings import Settings
from stockteacher.sources.sample import sample_path
from stockteacher.store import migrate
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article
from stockteacher.tickers.registry import lookup

TICKERS = ["AAPL", "TSLA", "NVDA", "MSFT", "005930.KS", "000660.KS"]
NO_BUDGET = 10_000_000
TARGET = 0.6
OUTLETS_EN = ["Reuters", "Yahoo Finance", "MarketWatch", "MSN Money", "Benzinga", "Nasdaq.com", "Investing.com"]
OUTLETS_KO = ["연합뉴스", "뉴시스", "뉴스1", "머니투데이", "한국경제", "매일경제", "이데일리"]


def naive_messages(system: str, ticker: str, articles: list[Article], *, body: bool = True) -> list[dict[str, str]]:
    blocks = [
        f"[article id={a.id}] source={a.source} published={a.published_at}\n"
        f"title: {a.title}\ndescription: {a.description or ''}" + (f"\nbody: {a.body or ''}" if body else "")
        for a in articles
    ]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"ticker: {ticker}\narticles:\n" + "\n\n".join(blocks)},
    ]


# --- the syndicated sample -------------------------------------------------------------------
def _rewrite(seed: dict[str, Any], outlet: str, n: int, rng: random.Random) -> dict[str, Any]:
    """Copy `n` of the story `seed` as outlet `outlet` publishes it (n = 0: the wire copy)."""
    korean = seed.get("language") == "ko"
    title, description, body = seed["title"], seed.get("description") or "", seed.get("content") or ""
    if n:
        style = rng.randrange(4)
        if style == 0:
            title = ("[종합] " if korean else "UPDATE 1-") + title
        elif style == 1 and not korean:
            title = title.title() if title != title.title() else title.capitalize()
        elif style == 2:
            title = f"{title} - {outlet}" if not korean else f"{title}…{outlet}"
        else:
            title = ("[속보] " if korean else "BREAKING: ") + title
        if rng.random() < 0.5:
            description = (f"({outlet}) " if not korean else f"({outlet}) ") + description
        else:
            description += " 관련 업계는 추가 발표를 주시하고 있다." if korean else " Shares moved in early trading."
        byline = f"{outlet} 기자 = " if korean else f"By {outlet} staff. "
        signoff = f" ({outlet} 제공)" if korean else f" Reporting by {outlet}; editing by the desk."
        body = byline + body + signoff
    published = datetime.fromisoformat(seed["published_at"].replace("Z", "+00:00")) + timedelta(minutes=7 * n)
    slug = seed["url"].rstrip("/").rsplit("/", 1)[-1]
    host = "".join(c for c in outlet.lower() if c.isalnum()) or f"outlet{n}"
    return {
        **seed,
        "title": title,
        "description": description,
        "content": body,
        "url": f"https://{host}.example/{seed['ticker'].lower()}/{slug}-{n}",
        "source_name": outlet,
        "published_at": published.isoformat(),
    }


def syndicated_sample(seeds: list[dict[str, Any]], folder: Path, *, seed: int) -> Path:
    """Each seed story published by 3-6 outlets, as one JSONL file."""
    rng = random.Random(seed)
    rows = []
    for story in seeds:
        outlets = rng.sample(OUTLETS_KO if story.get("language") == "ko" else OUTLETS_EN, rng.randint(3, 6))
        rows += [_rewrite(story, outlet, n, rng) for n, outlet in enumerate(outlets)]
    path = folder / "syndicated.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    return path


# --- measuring -------------------------------------------------------------------------------
@dataclass
class Measured:
    ticker: str
    stories: int
    articles: int
    clustered: int
    naive: int
    no_body: int
    representative_urls: set[str]


def measure(ticker: str, folder: Path, *, source: str, path: Path | None = None) -> Measured:
    dsn = f"sqlite:///{folder / f'{source}-{ticker}.db'}"
    migrate.upgrade(dsn)
    settings = Settings(
        _env_file=None,
        postgres_dsn=dsn,
        ingestion_redis_url="redis://127.0.0.1:1/0",
        redis_socket_timeout_seconds=0.2,
        default_locale="ko_KR",
    )
    collect_core(ticker, source, settings=settings, path=path)
    with session_scope(dsn) as session:
        stories = load_new_stories(session, ticker)
        articles = list(session.scalars(select(Article).where(Article.ticker == ticker)))
    prompt = build_prompt(ticker, lookup(ticker).name_ko, stories, locale="ko_KR", char_budget=NO_BUDGET)
    assert set(prompt.story_ids) == {a.story_id for a in articles}, "both prompts must cover the same stories"
    system = prompt.messages[0]["content"]
    return Measured(
        ticker=ticker,
        stories=len(stories),
        articles=len(articles),
        clustered=estimate_prompt_tokens(prompt.messages),
        naive=estimate_prompt_tokens(naive_messages(system, ticker, articles)),
        no_body=estimate_prompt_tokens(naive_messages(system, ticker, articles, body=False)),
        representative_urls={s.url for s in stories},
    )


def report(sample: str, results: list[Measured]) -> float:
    for m in results:
        print(
            f"{sample:10} {m.ticker:10} stories={m.stories:3} articles={m.articles:3} "
            f"clustered={m.clustered:5} naive={m.naive:5} ratio={m.clustered / m.naive:.2f} "
            f"naive_no_body={m.no_body:5} clustering_only={m.clustered / m.no_body:.2f}"
        )
    n = len(results)
    clustered, naive, no_body = (sum(getattr(m, f) for m in results) / n for f in ("clustered", "naive", "no_body"))
    articles, stories = sum(m.articles for m in results), sum(m.stories for m in results)
    print(f"{sample}: {articles} articles in {stories} stories ({articles / stories:.2f} per story)")
    print(
        f"prompt_tokens: sample={sample} clustered={clustered:.0f} naive={naive:.0f} ratio={clustered / naive:.2f} "
        f"naive_no_body={no_body:.0f} clustering_only_ratio={clustered / no_body:.2f}",
        flush=True,
    )
    return clustered / no_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=5, help="the syndicated sample's random seed")
    args = parser.parse_args()
    configure_logging(Settings(_env_file=None, structlog_level="ERROR"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bundled = [measure(t, folder, source="sample") for t in TICKERS]
        report("bundled", bundled)
        representatives = set().union(*(m.representative_urls for m in bundled))
        raw = [json.loads(line) for line in sample_path().read_text().splitlines() if line.strip()]
        seeds = [row for row in raw if row["url"] in representatives and row["ticker"] in TICKERS]
        path = syndicated_sample(seeds, folder, seed=args.seed)
        ratio = report("syndicated", [measure(t, folder, source="file", path=path) for t in TICKERS])
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"target: clustering-only ratio ≤ {TARGET} on the syndicated sample: {verdict} ({ratio:.2f})")


if __name__ == "__main__":
    main()

"""Prompt tokens per report: story clustering + one representative per story, against sending
every article in full, on the bundled sample data set, at equal coverage of stories.

    python benchmarks/prompt_tokens.py

For each sample ticker the news is collected into a fresh SQLite database. Two prompts are
built over the same stories, with no character budget, so both cover every story:

- clustered: `build_prompt` — one representative article per story (title + trimmed
  description) with its corroboration count;
- naive: the same system prompt, then every collected article with its title, description
  and full body, as a pipeline without clustering would send it.

Tokens are counted with the estimator that the cost cap uses (`estimate_prompt_tokens`: ~4
ASCII characters per token, 1.1 per other character). The last line is
`prompt_tokens: clustered=<N> naive=<M> ratio=<N/M>`, where N and M are averages per report.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select

from stockteacher.analysis.cost import estimate_prompt_tokens
from stockteacher.analysis.prompts import build_prompt
from stockteacher.analysis.service import load_new_stories
from stockteacher.ingest.collect import collect_core
from stockteacher.logs import configure_logging
from stockteacher.settings import Settings
from stockteacher.store import migrate
from stockteacher.store.db import session_scope
from stockteacher.store.models import Article
from stockteacher.tickers.registry import lookup

TICKERS = ["AAPL", "TSLA", "NVDA", "MSFT", "005930.KS", "000660.KS"]
NO_BUDGET = 10_000_000


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


def main() -> None:
    configure_logging(Settings(_env_file=None, structlog_level="ERROR"))
    clustered_total = naive_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for ticker in TICKERS:
            dsn = f"sqlite:///{Path(tmp) / f'{ticker}.db'}"
            migrate.upgrade(dsn)
            settings = Settings(
                _env_file=None,
                postgres_dsn=dsn,
                ingestion_redis_url="redis://127.0.0.1:1/0",
                redis_socket_timeout_seconds=0.2,
                default_locale="ko_KR",
            )
            collect_core(ticker, "sample", settings=settings)
            with session_scope(dsn) as session:
                stories = load_new_stories(session, ticker)
                articles = list(session.scalars(select(Article).where(Article.ticker == ticker)))
            prompt = build_prompt(ticker, lookup(ticker).name_ko, stories, locale="ko_KR", char_budget=NO_BUDGET)
            covered_clustered = set(prompt.story_ids)
            covered_naive = {a.story_id for a in articles}
            assert covered_clustered == covered_naive, "both prompts must cover the same stories"
            clustered = estimate_prompt_tokens(prompt.messages)
            naive = estimate_prompt_tokens(naive_messages(prompt.messages[0]["content"], ticker, articles))
            # For reference: every article, but only title + description (no body).
            no_body = estimate_prompt_tokens(
                naive_messages(prompt.messages[0]["content"], ticker, articles, body=False)
            )
            print(
                f"{ticker:10} stories={len(stories):3} articles={len(articles):3} "
                f"clustered={clustered:5} naive={naive:5} ratio={clustered / naive:.2f} "
                f"(all articles without bodies: {no_body}, ratio {clustered / no_body:.2f})"
            )
            clustered_total += clustered
            naive_total += naive
    n = len(TICKERS)
    clustered_avg, naive_avg = clustered_total / n, naive_total / n
    print(f"prompt_tokens: clustered={clustered_avg:.0f} naive={naive_avg:.0f} ratio={clustered_avg / naive_avg:.2f}")


if __name__ == "__main__":
    main()

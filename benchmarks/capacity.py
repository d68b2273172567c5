"""A capacity model past this machine, worked out from the figures in BENCHMARKS.md.

    python benchmarks/capacity.py [--tickers 10000] [--interval-minutes 15] [--readers 100000]
                                  [--markdown] [--benchmarks BENCHMARKS.md]

Every measured input is the last `name: key=value …` line of its section in BENCHMARKS.md
(`sweep:`, `store:`, `prompt_tokens:`, `api:`, …), so the model moves when a figure moves;
`docs/CAPACITY.md` holds this script's `--markdown` output, and a test keeps the two equal.
The assumptions that are not measurements (news per ticker, readers' habits, vendors' quotas
and prices) are the named constants below, each with where it comes from.

The last line is the summary:
`capacity: tickers=… interval_min=… collector_nodes=… analyzer_nodes=… llm_rpm=… llm_tpm=…
usd_per_day=… usd_per_day_worst=… pg_rows_per_s=… serve_replicas=… binds_first=…`.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stockteacher.analysis.cost import DEFAULT_PRICES  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402

# --- assumptions (not measured here) -------------------------------------------------------
BENCH_CORES = 2  # the benchmark machine (BENCHMARKS.md, top)
NODE_VCPUS = 2  # c6i.large / m6i.large in cluster.yaml
CPU_HEADROOM = 0.6  # plan nodes to run at 60 % CPU, so a slow sweep does not overrun the next
NEW_ARTICLES_PER_TICKER_DAY = 30  # a large cap's news day; the sweep benchmark's 20 per sweep is the worst case
NEW_STORIES_PER_TICKER_DAY = 8  # those articles cluster into about this many stories: a report at most each
KR_SHARE = 0.5  # Korean tickers (naver, dart) vs the rest (news_api)
LLM_LATENCY_S = 3.0  # a real gpt-4o-mini report of ~500 tokens (the benchmark's server answers in 0.6 s)
ARTICLE_ROW_BYTES = 2_500  # an article row with its indexes and MinHash (title, description, 1–2 kB body)
READER_PEAK_SHARE = 0.2  # readers active in the busiest hour
REQUESTS_PER_ACTIVE_READER_HOUR = 30  # list, a few reports, their related reports, search
CHAT_MESSAGES_PER_READER_DAY = 0.3
# Vendors' published limits at the time of writing (check yours): NewsAPI Business 250,000
# requests a month; Naver Developers' search API 25,000 calls a day per application; OpenDART
# 20,000 requests a day per key.
NEWS_API_REQUESTS_PER_DAY = 250_000 / 30
NAVER_CALLS_PER_DAY = 25_000
DART_REQUESTS_PER_DAY = 20_000


def read_figures(path: Path) -> dict[str, dict[str, float]]:
    """The last `name: key=value …` line of each name in BENCHMARKS.md, numbers only."""
    figures: dict[str, dict[str, float]] = {}
    line = re.compile(r"^([a-z_]+): ((?:[a-z_0-9]+=\S+ ?)+)$")
    for text in path.read_text(encoding="utf-8").splitlines():
        match = line.match(text.strip())
        if not match:
            continue
        values = {}
        for pair in match.group(2).split():
            key, _, value = pair.partition("=")
            number = re.match(r"^-?[0-9.]+", value.split(",")[-1])
            if number:
                values[key] = float(number.group(0).rstrip("."))
        figures[match.group(1)] = values
    return figures


def need(figures: dict[str, dict[str, float]], name: str, key: str) -> float:
    try:
        return figures[name][key]
    except KeyError:
        raise SystemExit(f"capacity: BENCHMARKS.md has no `{name}: … {key}=…` line; run its benchmark first") from None


@dataclass
class Model:
    rows: list[tuple[str, str, str]]  # (what, figure, from)
    summary: dict[str, object]


def model(figures: dict[str, dict[str, float]], *, tickers: int, interval_minutes: float, readers: int) -> Model:
    settings = Settings(_env_file=None)
    rows: list[tuple[str, str, str]] = []
    sweeps_per_day = 24 * 60 / interval_minutes
    interval_s = interval_minutes * 60

    # Sweep CPU: the marginal wall time per ticker on the 2-core benchmark machine, both cores busy.
    marginal_ms = need(figures, "sweep", "marginal_ms_per_ticker")
    cpu_s_per_ticker = marginal_ms / 1000 * BENCH_CORES
    sweep_vcpus = tickers * cpu_s_per_ticker / interval_s
    collector_nodes = max(1, math.ceil(sweep_vcpus / (NODE_VCPUS * CPU_HEADROOM)))
    cpu = f"{cpu_s_per_ticker * 1000:.0f} CPU-ms per ticker → {sweep_vcpus:.1f} vCPU busy"
    rows.append(("sweep CPU", cpu, "sweep"))
    rows.append(("collector nodes (c6i.large)", f"{collector_nodes}", f"at {CPU_HEADROOM:.0%} CPU"))

    # The LLM: one report per ticker per sweep when it has news (worst case: every ticker, every sweep).
    prompt_tokens = need(figures, "prompt_tokens", "clustered")
    completion_tokens = settings.analysis_max_tokens
    rpm = tickers / interval_minutes
    tpm = rpm * (prompt_tokens + completion_tokens)
    price = DEFAULT_PRICES[settings.analysis_model]
    usd_per_report = (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000
    reports_per_day = tickers * sweeps_per_day
    usd_per_day = reports_per_day * usd_per_report
    in_flight = rpm / 60 * LLM_LATENCY_S
    replicas = math.ceil(in_flight / settings.analyzer_concurrency)
    analyzer_nodes = max(1, math.ceil(replicas / 4))  # cluster.yaml: 4 `analyzer` per node
    rows.append(("LLM requests", f"{rpm:,.0f} per minute, {tpm / 1e6:.2f} M tokens per minute", "prompt_tokens"))
    typical_usd_per_day = tickers * min(sweeps_per_day, NEW_STORIES_PER_TICKER_DAY) * usd_per_report
    rows.append(
        (
            f"LLM spend ({settings.analysis_model})",
            f"${usd_per_report * 1000:.2f} per 1,000 reports → ${typical_usd_per_day:,.0f} per day typical, "
            f"${usd_per_day:,.0f} if every ticker had news every sweep",
            "prompt_tokens, analysis/cost.py",
        )
    )
    rows.append(
        (
            "analyzer replicas / nodes",
            f"{in_flight:.0f} calls in flight at {LLM_LATENCY_S:.0f} s → {replicas} replicas × "
            f"{settings.analyzer_concurrency} → {analyzer_nodes} node(s)",
            "ANALYZER_CONCURRENCY",
        )
    )

    # News APIs: requests per ticker per sweep, against the vendors' quotas.
    news_api_calls = tickers * (1 - KR_SHARE) * sweeps_per_day  # one page of NEWS_API_PAGE_SIZE
    naver_calls = tickers * KR_SHARE * sweeps_per_day * math.ceil(settings.naver_max_results / settings.naver_display)
    dart_calls = tickers * KR_SHARE * sweeps_per_day
    quotas = {
        "news_api": news_api_calls / NEWS_API_REQUESTS_PER_DAY,
        "naver": naver_calls / NAVER_CALLS_PER_DAY,
        "dart": dart_calls / DART_REQUESTS_PER_DAY,
    }
    for name, calls in (("news_api", news_api_calls), ("naver", naver_calls), ("dart", dart_calls)):
        rows.append((f"{name} requests", f"{calls:,.0f} per day = {quotas[name]:,.1f}× one plan's quota", "quota"))

    # PostgreSQL: article writes and growth.
    store_rate = need(figures, "store", "bulk")
    worst_rows_s = tickers * 20 / interval_s  # the sweep benchmark's 20 new articles per ticker per sweep
    typical_rows_s = tickers * NEW_ARTICLES_PER_TICKER_DAY / 86_400
    growth_gb_month = typical_rows_s * 86_400 * 30 * ARTICLE_ROW_BYTES / 1e9
    rows.append(
        (
            "PostgreSQL article writes",
            f"{typical_rows_s:,.1f} rows/s typical, {worst_rows_s:,.0f} rows/s worst ({worst_rows_s / store_rate:.1%} "
            "of the bulk path on 2 cores)",
            "store",
        )
    )
    rows.append(("articles table growth", f"{growth_gb_month:,.0f} GB per month typical", "assumption"))

    # Readers: API requests at the busiest hour against Serve's measured rate per replica.
    serve_rps = need(figures, "api", "serve_rps")
    rps_per_replica = serve_rps / 2  # the recommended setup: 2 API replicas on the 2 cores
    peak_rps = readers * READER_PEAK_SHARE * REQUESTS_PER_ACTIVE_READER_HOUR / 3600
    serve_replicas = max(2, math.ceil(peak_rps / (rps_per_replica * CPU_HEADROOM)))
    chat_per_day = readers * CHAT_MESSAGES_PER_READER_DAY
    rows.append(("API at the busiest hour", f"{peak_rps:,.0f} req/s → {serve_replicas} Serve replicas", "api"))
    rows.append(("chat LLM calls", f"{chat_per_day:,.0f} per day", "assumption"))

    binding = max(quotas, key=quotas.__getitem__)
    summary = {
        "tickers": tickers,
        "interval_min": f"{interval_minutes:g}",
        "collector_nodes": collector_nodes,
        "analyzer_nodes": analyzer_nodes,
        "llm_rpm": round(rpm),
        "llm_tpm": round(tpm),
        "usd_per_day": round(typical_usd_per_day),
        "usd_per_day_worst": round(usd_per_day),
        "pg_rows_per_s": round(worst_rows_s),
        "serve_replicas": serve_replicas,
        "binds_first": f"{binding}_quota",
    }
    return Model(rows, summary)


def render(result: Model, *, markdown: bool) -> str:
    summary = "capacity: " + " ".join(f"{k}={v}" for k, v in result.summary.items())
    if markdown:
        lines = ["| what | figure | from |", "|---|---|---|"]
        lines += [f"| {what} | {figure} | {source} |" for what, figure, source in result.rows]
        return "\n".join([*lines, "", "```", summary, "```"])
    width = max(len(what) for what, _, _ in result.rows)
    return "\n".join([*(f"{what:<{width}}  {figure}" for what, figure, _ in result.rows), summary])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", type=int, default=10_000)
    parser.add_argument("--interval-minutes", type=float, default=15)
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--markdown", action="store_true", help="the table docs/CAPACITY.md holds")
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    figures = read_figures(args.benchmarks)
    result = model(figures, tickers=args.tickers, interval_minutes=args.interval_minutes, readers=args.readers)
    print(render(result, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

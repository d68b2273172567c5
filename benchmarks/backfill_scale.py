"""Backfill at scale: a generated 1,000,000-row Parquet file over 500 tickers, through
`jobs/backfill.py`'s own `backfill_job` on a local Ray, into a fresh PostgreSQL database.

    python benchmarks/backfill_scale.py [--rows 1000000] [--tickers 500] [--keep FILE] [--analyze]

The file: the registry's 141 tickers (titles and descriptions name the company, in English or
Korean) and synthetic symbols for the rest (named as `NASDAQ: SYM`, as wires write them), one
year of dates, 40 outlets; 5 % exact duplicates (the same URL and title again), 10 % syndicated
copies (the same story from another outlet: a new article that joins the first one's story),
and 0.1 % bad rows (no title, a non-http URL, a ticker that is no symbol). It is written before
the clock starts, in chunks, by this process.

On the clock: `backfill_job` from the call to its return with `analyze=False` (Ray's start-up,
reading, normalising, de-duplicating, MinHash, storing and clustering into stories, the
`job_runs` row). Off the clock: generating the file, creating and migrating the database, and
analysis (`--analyze` runs it after the clock stops, with the offline analyzer, and reports
its time apart). A sampler thread reads the resident memory of the driver and of every Ray
worker process every 0.2 s (psutil; a worker's RSS includes the object-store pages it maps).

The last line is `backfill: rows=… seconds=… rows_per_s=… peak_rss_mb=… driver_peak_rss_mb=…
worker_peak_rss_mb=…` (`peak_rss_mb` is the larger of the two).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks._pgdb import fresh_database  # noqa: E402
from stockteacher.settings import Settings  # noqa: E402
from stockteacher.store.db import session_scope  # noqa: E402
from stockteacher.store.models import Article, Story  # noqa: E402
from stockteacher.tickers.registry import all_tickers  # noqa: E402

VERBS = ["rises", "falls", "jumps", "slips", "rallies", "steadies", "surges", "drops"]
TOPICS = [
    "after quarterly earnings beat estimates",
    "as analysts raise price targets",
    "on new product launch",
    "amid supply chain concerns",
    "after regulator opens review",
    "as chief executive outlines strategy",
    "on buyback announcement",
    "after guidance cut",
    "as investors weigh demand outlook",
    "on partnership deal",
]
KO_TOPICS = ["실적 발표 후 주가 상승", "신제품 공개", "목표주가 상향", "공급망 우려", "자사주 매입 발표"]
CHUNK = 100_000


def tickers(n: int) -> list[tuple[str, str, str]]:
    """(symbol, how titles name it, language) for n tickers: the registry's, then synthetic."""
    known = [(t.symbol, t.name_en or t.name_ko or t.symbol, "en") for t in all_tickers()]
    korean = [(t.symbol, t.name_ko, "ko") for t in all_tickers() if t.country == "KR" and t.name_ko]
    out = known[:n]
    out = [k if k[0] not in {s for s, _, _ in korean} else next(x for x in korean if x[0] == k[0]) for k in out]
    i = 0
    while len(out) < n:
        symbol = f"Q{chr(65 + i // 676 % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}"
        out.append((symbol, f"NASDAQ: {symbol}", "en"))
        i += 1
    return out


def generate(path: Path, rows: int, n_tickers: int, seed: int = 7) -> dict[str, int]:
    """Write the benchmark's Parquet file in chunks; what went into it."""
    rng = random.Random(seed)
    names = tickers(n_tickers)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    schema = pa.schema(
        [
            ("ticker", pa.string()),
            ("title", pa.string()),
            ("url", pa.string()),
            ("description", pa.string()),
            ("content", pa.string()),
            ("source_name", pa.string()),
            ("published_at", pa.timestamp("us", tz="UTC")),
            ("language", pa.string()),
        ]
    )
    made = {"rows": 0, "duplicates": 0, "syndicated": 0, "bad": 0}
    recent: list[dict[str, object]] = []
    with pq.ParquetWriter(path, schema) as writer:
        while made["rows"] < rows:
            chunk: list[dict[str, object]] = []
            for _ in range(min(CHUNK, rows - made["rows"])):
                i = made["rows"]
                roll = rng.random()
                if recent and roll < 0.05:
                    chunk.append(dict(rng.choice(recent)))
                    made["duplicates"] += 1
                elif recent and roll < 0.15:
                    original = rng.choice(recent)
                    outlet = rng.randrange(40)
                    chunk.append(
                        {
                            **original,
                            "url": f"https://outlet{outlet}.example/syndicated/{i}",
                            "source_name": f"Outlet {outlet}",
                        }
                    )
                    made["syndicated"] += 1
                elif roll > 0.999:
                    symbol = rng.choice(names)[0]
                    kind = rng.randrange(3)
                    chunk.append(
                        {
                            "ticker": "not a ticker!" if kind == 2 else symbol,
                            "title": None if kind == 0 else f"{symbol} item {i}",
                            "url": f"ftp://bad.example/{i}" if kind == 1 else f"https://bad.example/{i}",
                        }
                    )
                    made["bad"] += 1
                else:
                    symbol, name, language = names[rng.randrange(len(names))]
                    outlet = rng.randrange(40)
                    if language == "ko":
                        title = f"{name}, {rng.choice(KO_TOPICS)} {i}"
                        description = f"{name}의 {rng.choice(KO_TOPICS)} 소식이다. 시장은 {i % 97}번째 반응을 보였다."
                    else:
                        title = f"{name} {rng.choice(VERBS)} {rng.choice(TOPICS)} ({i})"
                        description = (
                            f"Shares of {name} moved on {rng.choice(TOPICS)}; traders also watched "
                            f"{rng.choice(TOPICS)}, note {i % 997}."
                        )
                    row = {
                        "ticker": symbol if rng.random() > 0.1 else symbol.lower(),
                        "title": title,
                        "url": f"https://outlet{outlet}.example/markets/{symbol.lower()}/{i}?utm_source=rss",
                        "description": description,
                        "content": f"{description} " * 3,
                        "source_name": f"Outlet {outlet}",
                        "published_at": start + timedelta(seconds=rng.randrange(365 * 86400)),
                        "language": language,
                    }
                    chunk.append(row)
                    recent.append(row)
                    if len(recent) > 5000:
                        recent = recent[-2500:]
                made["rows"] += 1
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
    return made


class PeakMemory:
    """The largest RSS seen of this process and of any Ray worker process, sampled."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.driver = 0
        self.worker = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._me = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.driver = max(self.driver, self._me.memory_info().rss)
            for proc in psutil.process_iter(["name", "cmdline"]):
                try:
                    cmd = " ".join(proc.info["cmdline"] or [])
                    if proc.pid != self._me.pid and ("ray::" in cmd or "default_worker.py" in cmd):
                        self.worker = max(self.worker, proc.memory_info().rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--keep", type=Path, help="write the file here and keep it (default: a temporary file)")
    parser.add_argument("--analyze", action="store_true", help="analyse every ticker after the clock stops")
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    workdir = Path(tempfile.mkdtemp(prefix="backfill_bench_"))
    path = args.keep or workdir / "news.parquet"
    if not path.exists():
        began = time.perf_counter()
        made = generate(path, args.rows, args.tickers)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - began:.0f}s: {made}")
    dsn, drop = fresh_database(args.admin_dsn)
    try:
        settings = Settings(
            _env_file=None,
            postgres_dsn=dsn,
            ingestion_redis_url="redis://127.0.0.1:6379/14",
            local_storage_root=str(workdir / "storage"),
            structlog_level="WARNING",
        )
        from stockteacher.cluster.entrypoints import backfill_job

        with PeakMemory() as peak:
            began = time.perf_counter()
            summary = backfill_job(str(path), settings=settings, analyze=False)
            seconds = time.perf_counter() - began
        counts = {k: summary[k] for k in ("rows", "invalid", "invalid_reasons", "duplicates", "saved", "new_stories")}
        print(f"summary: {counts} store_seconds={summary['store_seconds']}")
        with session_scope(dsn) as session:
            stored = session.scalar(select(func.count()).select_from(Article))
            stories = session.scalar(select(func.count()).select_from(Story))
        print(f"stored articles={stored} stories={stories}")
        if args.analyze:
            began = time.perf_counter()
            analysed = backfill_job(str(path), settings=settings, analyze=True)
            print(
                f"rerun with analysis: saved={analysed['saved']} analyses={analysed['analyses']} "
                f"published={analysed['published']} seconds={time.perf_counter() - began:.0f}"
            )
        mb = 1024 * 1024
        print(
            f"backfill: rows={summary['rows']} seconds={seconds:.1f} rows_per_s={summary['rows'] / seconds:.0f} "
            f"peak_rss_mb={max(peak.driver, peak.worker) / mb:.0f} driver_peak_rss_mb={peak.driver / mb:.0f} "
            f"worker_peak_rss_mb={peak.worker / mb:.0f}"
        )
    finally:
        import ray

        ray.shutdown()
        drop()


if __name__ == "__main__":
    main()

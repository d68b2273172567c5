"""Backfills on Ray Data: the input read once, prepared in parallel blocks, stored per ticker.

    read_parquet / read_text (JSON Lines) / read_csv   one dataset per format, unioned
      → map_batches(prepare_block)                    Ray workers: the --tickers filter,
                                                      normalising, relevance, in-block de-dup,
                                                      MinHash signatures
      → groupby("ticker").map_groups(store_group)     Ray workers: one ticker's articles from
                                                      every block, de-duplicated, stored through
                                                      the bulk path and clustered into stories
      (then `entrypoints.backfill_job` analyses and publishes per ticker on the analyzer pool)

Every file is read once, by one read task, wherever Ray places it: a local path must be
readable on every node that may run a read task (one node, or shared storage); a URI
(`s3://…`) is read from wherever the task runs. Memory stays bounded by blocks, not by the
input: Ray Data streams 16 MB blocks through its object store, a prepare task holds one batch
of `BATCH_ROWS` rows, a store task the groups of one shuffle partition, and the driver only
one small row per ticker. Grouping first makes each ticker one bulk insert and one clustering
pass (a transaction costs ~10 ms however few rows it has). The counting rows (bad rows per
reason, rows read) group under the ticker "". The pure parts are in
`stockteacher.ingest.backfill`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.csv as pacsv
import ray
from ray.data.context import ShuffleStrategy

from stockteacher.cluster import metrics
from stockteacher.ingest.backfill import (
    COUNTS,
    Inputs,
    Tally,
    prepare_block,
    store_group,
)
from stockteacher.logs import get_logger, pipeline_context
from stockteacher.settings import Settings
from stockteacher.store.jobs import job_run
from stockteacher.tickers.registry import TickerInfo

__all__ = ["BATCH_ROWS", "print_backfill_progress", "read_dataset", "run_backfill"]

log = get_logger(__name__)
BATCH_ROWS = 4096  # rows a worker prepares at once
BLOCK_BYTES = 16 * 1024 * 1024  # Ray Data blocks: small, so a worker's memory stays small
READ_CPUS = 0.5
PARTITION_BYTES = 16 * 1024 * 1024  # of input files, per shuffle partition
MAX_PARTITIONS = 64


def read_dataset(
    inputs: Inputs,
    *,
    wanted: frozenset[str] | None,
    untagged: tuple[str, ...],
    added: tuple[TickerInfo, ...] = (),
) -> ray.data.Dataset:
    """One dataset of prepared articles (`ingest.backfill.ARTICLES`) over every input file."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # our own line, every 2 s
    context.target_max_block_size = BLOCK_BYTES
    # Grouping per ticker by a sort through the object store (spilled to disk when full), not
    # by hash-shuffle actors that hold their partitions in their heap and take ~20 s to start.
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    datasets = []
    # A file is one read task; asking less CPU of it than of the map keeps Ray Data from fusing
    # the two, so that one big file's blocks are prepared by every worker, not by its reader.
    reading = {"filesystem": inputs.filesystem, "num_cpus": READ_CPUS}
    for kind, paths in sorted(inputs.files.items()):
        columns = inputs.columns.get(kind)
        if kind == "parquet":
            ds = ray.data.read_parquet(paths, **reading)
            ds = ds.select_columns(columns) if columns else ds  # pushed down into the read
        elif kind == "csv":
            text = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns or ()})  # every column as text
            ds = ray.data.read_csv(paths, convert_options=text, **reading)
        else:  # JSON Lines as lines of text, parsed in the workers: a bad line is one bad row
            ds = ray.data.read_text(paths, **reading)
        datasets.append(
            ds.map_batches(
                prepare_block,
                batch_format="pyarrow",
                batch_size=BATCH_ROWS,
                num_cpus=1,
                fn_kwargs={"kind": kind, "wanted": wanted, "untagged": untagged, "added": added},
            )
        )
    return datasets[0].union(*datasets[1:]) if len(datasets) > 1 else datasets[0]


def partitions(inputs: Inputs) -> int:
    """Shuffle partitions for grouping per ticker: about one per `PARTITION_BYTES` of input
    (Ray Data's default, 200, costs a test of a few rows half a minute)."""
    return max(2, min(MAX_PARTITIONS, math.ceil(inputs.size_bytes / PARTITION_BYTES)))


def run_backfill(
    settings: Settings,
    inputs: Inputs,
    *,
    trace_id: str,
    wanted: frozenset[str] | None = None,
    untagged: tuple[str, ...] = (),
    added: tuple[TickerInfo, ...] = (),
    on_progress: Callable[[Tally, float], None] | None = None,
) -> Tally:
    """Read, prepare, group per ticker and store the whole input; the counts (see
    `Tally.counts`). One `job_runs` row (`stage=backfill`) records them, or the failure.
    `added`: the operators' tickers and aliases, which the workers cannot read themselves."""
    tally = Tally()
    started = time.perf_counter()
    shown = started
    progress = on_progress or (lambda _tally, _elapsed: None)
    with (
        pipeline_context(trace_id=trace_id, stage="backfill", source="file"),
        job_run(settings.dsn, stage="backfill", trace_id=trace_id, source="file") as run,
    ):
        log.info("backfill.start", files=inputs.count, formats=sorted(inputs.files), tickers=sorted(wanted or ()))
        prepared = read_dataset(inputs, wanted=wanted, untagged=untagged, added=added)
        stored = prepared.groupby("ticker", num_partitions=partitions(inputs)).map_groups(
            store_group,
            batch_format="pyarrow",
            fn_kwargs={"settings": settings, "trace_id": trace_id},
            num_cpus=1,
        )
        for batch in stored.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                tally.add_stored(row)
                if row["ticker"] != COUNTS:  # the same counters as a sweep's collectors
                    metrics.inc("articles_saved", row["saved"], ticker=row["ticker"], source="file")
                    metrics.inc("stories", row["new_stories"], ticker=row["ticker"])
            if time.perf_counter() - shown >= 2:
                shown = time.perf_counter()
                progress(tally, shown - started)
        counts = tally.counts()
        run.record(fetched=tally.rows, unique=tally.unique, saved=tally.saved, details=counts)
        log.info("backfill.stored", **counts, seconds=round(time.perf_counter() - started, 1))
    progress(tally, time.perf_counter() - started)
    return tally


def print_backfill_progress(tally: Tally, elapsed: float) -> None:
    """One line on stderr: what was read and stored so far."""
    rate = tally.rows / elapsed if elapsed > 0 else 0.0
    print(
        f"[backfill] {len(tally.seen)} tickers stored: {tally.saved} articles, {tally.new_stories} new stories "
        f"({elapsed:.0f} s); rows read {tally.rows} ({rate:,.0f}/s), bad {sum(tally.invalid_reasons.values())}",
        file=sys.stderr,
        flush=True,
    )

"""What `jobs/*.py` and the Ray-facing CLI commands run. Each entry point connects to Ray
(`--address`, `RAY_ADDRESS`, or a local instance), does its work, and returns a JSON-able
summary whose `status` is "ok" on success.

The sweeps show one progress line per stage on stderr (`progress=False` for `--json`), and
keep the workers' logs in the Ray session's files (`verbose=True` streams them here too)."""

from __future__ import annotations

import time
from typing import Any

from stockteacher.cluster.runtime import connect, wait_until_gone
from stockteacher.cluster.scheduler import SCHEDULER_NAME
from stockteacher.logs import configure_logging
from stockteacher.settings import Settings, SettingsError, load_settings
from stockteacher.store import migrate
from stockteacher.store.db import normalise_dsn
from stockteacher.store.health import check_database
from stockteacher.tickers.registry import lookup

__all__ = [
    "analyze_job",
    "backfill_job",
    "collect_job",
    "evaluate_job",
    "prices_job",
    "publish_job",
    "run_once_job",
    "scale_analyzers",
    "scheduler_command",
]


def prepare(
    settings: Settings | None = None,
    *,
    address: str | None = None,
    require_cluster: bool = False,
    verbose: bool = False,
) -> tuple[Settings, dict[str, Any]]:
    """Settings for workers (absolute paths), logging, Ray (the workers' logs on this console
    too when `verbose`), and a database that is ready.

    Raises `ClusterAddressError`, `SettingsError` or `DatabaseNotReady` with one line that says
    what to do (the jobs and the CLI exit 2 on them)."""
    settings = settings or load_settings()
    configure_logging(settings)
    embedded = normalise_dsn(settings.dsn).get_backend_name() == "sqlite"
    if not embedded:
        check_database(settings.dsn)  # before Ray starts: a wrong database fails in a second
    ray_info = connect(address, require_cluster=require_cluster, log_to_driver=verbose)
    _check_database_location(settings, ray_info)
    settings = settings.for_workers()
    if embedded:
        migrate.upgrade_if_sqlite(settings.dsn)
        check_database(settings.dsn)
    return settings, ray_info


def _check_database_location(settings: Settings, ray_info: dict[str, Any]) -> None:
    """On a cluster the database must be named, and reachable from every node."""
    if ray_info.get("local"):
        return
    import socket

    import ray

    if not (settings.postgres_dsn or settings.database_url):
        raise SettingsError(
            f"POSTGRES_DSN is not set on this node ({socket.gethostname()}), so the database would be a "
            f"SQLite file at {settings.dsn.removeprefix('sqlite:///')} that no other node sees: set POSTGRES_DSN "
            "in the node's .env (cluster.yaml starts Ray with STOCKTEACHER_ENV_FILE=$HOME/stockteacher/.env)"
        )
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    if nodes > 1 and normalise_dsn(settings.dsn).get_backend_name() == "sqlite":
        raise SettingsError(
            f"POSTGRES_DSN is a SQLite file, which the other {nodes - 1} node(s) of this cluster cannot "
            "open: point POSTGRES_DSN at a PostgreSQL that every node can reach"
        )


def _tickers(raw: str | list[str] | None, settings: Settings) -> list[str]:
    if raw is None:
        names = [s.ticker for s in settings.collection_schedules if s.enabled]
        if not names:
            raise ValueError("no tickers given and COLLECTION_SCHEDULES has none enabled; pass --tickers")
        return list(dict.fromkeys(names))
    items = raw.split(",") if isinstance(raw, str) else raw
    return list(dict.fromkeys(lookup(t).symbol for t in items if t.strip()))


def run_once_job(
    tickers: str | list[str] | None,
    *,
    source: str = "sample",
    address: str | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> dict[str, Any]:
    """One full sweep (collect → analyze → publish → notify) over `tickers` from `source`."""
    from stockteacher.cluster.sweep import run_on_ray

    settings, _ = prepare(settings, address=address, verbose=verbose)
    pairs = [(t, source) for t in _tickers(tickers, settings)]
    return run_on_ray(settings, pairs, progress=progress).summary()


def collect_job(
    tickers: str | list[str] | None,
    *,
    source: str,
    path: str | None = None,
    address: str | None = None,
    settings: Settings | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Collection only, in parallel over tickers: the sweep's collect stage."""
    from stockteacher.cluster.sweep import run_on_ray

    settings, _ = prepare(settings, address=address, verbose=verbose)
    pairs = [(t, source) for t in _tickers(tickers, settings)]
    result = run_on_ray(settings, pairs, stages=("collect",), path=path)
    summary = result.summary()
    errors = [{"ticker": e.ticker, "error_code": e.error_code, "error": e.error} for e in result.errors]
    return {
        "status": "ok" if not errors else "failed",
        "trace_id": result.trace_id,
        **{k: summary[k] for k in ("fetched", "unique", "saved")},
        "errors": errors,
    }


def analyze_job(
    tickers: str | list[str] | None,
    *,
    address: str | None = None,
    settings: Settings | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Analysis (and publishing) only, through the analyzer pool: the sweep without collecting."""
    from stockteacher.cluster.sweep import run_on_ray

    settings, _ = prepare(settings, address=address, verbose=verbose)
    result = run_on_ray(settings, [(t, None) for t in _tickers(tickers, settings)], stages=("analyze", "publish"))
    failed = [a for a in result.analyzed.values() if a.status == "failed"]
    errors = [
        *({"status": "failed", "ticker": a.ticker, "error_code": a.error_code, "error": a.error} for a in failed),
        *(e.as_dict() for e in result.errors if e.stage != "analyze"),
    ]
    return {
        "status": "ok" if not errors else "failed",
        "trace_id": result.trace_id,
        "analyses": sum(1 for a in result.analyzed.values() if a.status == "saved"),
        "insight_ids": result.insight_ids,
        "errors": errors,
    }


def publish_job(
    ticker: str | None = None, *, address: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """The publish stage for every analysis without a report: one ticker's in this process,
    everyone's as a Ray task."""
    import ray

    from stockteacher.cluster.actors import publish_task
    from stockteacher.logs import new_trace_id
    from stockteacher.pipeline import publish_stage

    settings, _ = prepare(settings, address=address)
    if ticker:
        outcome = publish_stage(settings, None, trace_id=new_trace_id(), ticker=lookup(ticker).symbol)
        return {"status": "ok", **outcome.summary()}
    published = ray.get(publish_task.remote(settings, None, new_trace_id()))
    return {"status": "ok", **published.summary(), "insight_ids": published.insight_ids}


def prices_job(
    tickers: str | None,
    *,
    start: str | None = None,
    end: str | None = None,
    source: str | None = None,
    path: str | None = None,
    address: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Daily bars for `tickers` and their benchmarks, as a Ray task on a collector: the range
    `start`..`end` (a history backfill), else each symbol's missing days. `source` defaults to
    PRICE_SOURCE (`auto`: Yahoo)."""
    from datetime import date

    import ray

    from stockteacher.cluster.actors import prices_task, track_options
    from stockteacher.prices import PRICE_SOURCES
    from stockteacher.prices.service import symbols_for

    for name, value in (("--from", start), ("--to", end)):
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise SettingsError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    if start and end and start > end:
        raise SettingsError("--from must not be after --to")
    settings, _ = prepare(settings, address=address)
    name = source or ("yahoo" if settings.price_source in ("auto", "off") else settings.price_source)
    if name not in PRICE_SOURCES:
        raise SettingsError(f"--source: choose one of {', '.join(PRICE_SOURCES)}")
    symbols = symbols_for(_tickers(tickers, settings))
    result = ray.get(prices_task.options(**track_options(settings)).remote(settings, symbols, name, start, end, path))
    status = "ok" if not result["errors"] else "partial" if result["stored"] else "failed"
    return {"status": status, "source": name, "bars": sum(result["stored"].values()), **result}


def evaluate_job(*, address: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The track record: every published report's outcomes that became known, as a Ray task."""
    import ray

    from stockteacher.cluster.actors import evaluate_task

    settings, _ = prepare(settings, address=address)
    return {"status": "ok", **ray.get(evaluate_task.remote(settings))}


def backfill_job(
    path: str,
    *,
    tickers: str | None = None,
    address: str | None = None,
    settings: Settings | None = None,
    analyze: bool = True,
) -> dict[str, Any]:
    """Import a file, a directory of files or a URI (Parquet, JSON Lines, CSV) on Ray Data,
    read once: every ticker in its `ticker` column (or only `--tickers`) is normalised,
    de-duplicated and stored, then analysed and published, with progress on stderr.

    Bad rows are counted per reason (`invalid_reasons`), never fatal; a missing required
    column, no input files or an unknown format is bad input (exit 2), found before Ray starts."""
    from stockteacher.cluster.backfill import print_backfill_progress, run_backfill
    from stockteacher.cluster.sweep import run_on_ray
    from stockteacher.ingest.backfill import check_columns, find_inputs
    from stockteacher.logs import new_trace_id
    from stockteacher.store.db import session_scope
    from stockteacher.tickers import service as ticker_service

    inputs = check_columns(find_inputs(path), tickers_given=tickers is not None)
    settings, _ = prepare(settings, address=address)
    with session_scope(settings.dsn) as db_session:
        added = tuple(ticker_service.added(db_session=db_session))
        ticker_service.refresh(db_session)
    wanted = _tickers(tickers, settings) if tickers is not None else None
    trace_id = new_trace_id()
    started = time.perf_counter()
    tally = run_backfill(
        settings,
        inputs,
        trace_id=trace_id,
        wanted=frozenset(wanted) if wanted is not None else None,
        untagged=tuple(wanted or ()),
        added=added,
        on_progress=print_backfill_progress,
    )
    stored_seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        "status": "ok",
        "trace_id": trace_id,
        "files": inputs.count,
        "formats": sorted(inputs.files),
        "skipped_files": inputs.skipped,
        **tally.counts(),
        "store_seconds": round(stored_seconds, 2),
    }
    if not analyze or not tally.seen:
        return {**summary, "analyses": 0, "published": 0, "insight_ids": [], "errors": []}
    result = run_on_ray(
        settings, [(t, None) for t in sorted(tally.seen)], stages=("analyze", "publish"), trace_id=trace_id
    ).summary()
    return {
        **summary,
        "status": result["status"],
        **{k: result[k] for k in ("analyses", "published", "insight_ids", "errors")},
        "duration_seconds": round(time.perf_counter() - started, 2),
    }


def scheduler_command(action: str, *, address: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """`start`, `stop`, `status` or `run-now` of the cluster's scheduler actor."""
    import ray

    from stockteacher.cluster.scheduler import scheduler_handle

    settings, _ = prepare(settings, address=address, require_cluster=True)
    if action == "start":
        return _start_scheduler(settings)
    try:
        handle = scheduler_handle(settings, create=False)
    except ValueError:
        return {"status": "not_running", "detail": "no scheduler actor on this cluster; run `scheduler start`"}
    if action == "stop":
        result = ray.get(handle.stop.remote())
        ray.kill(handle, no_restart=True)
        return {"status": "ok", **result, "running": False}
    if action == "run-now":
        return {"status": "ok", **ray.get(handle.run_now.remote())}
    return {"status": "ok", **ray.get(handle.status.remote())}


DRAIN_SECONDS = 120.0


def _start_scheduler(settings: Settings, *, drain_seconds: float = DRAIN_SECONDS) -> dict[str, Any]:
    """Start the scheduler; one running with other settings is replaced once its sweep ends."""
    import ray

    from stockteacher.cluster.scheduler import scheduler_handle

    handle = scheduler_handle(settings)
    changed: list[str] = ray.get(handle.changed_settings.remote(settings))
    if changed:
        if not ray.get(handle.drain.remote(drain_seconds)):
            return {
                "status": "failed",
                "error_code": "scheduler_busy",
                "error": (
                    f"the running scheduler has other settings ({', '.join(changed)}) and its sweep did not end "
                    f"within {drain_seconds:.0f} s: run `scheduler start` again later, or `scheduler stop` (it "
                    "stops at once; cut-off slots are resumed) and then `scheduler start`"
                ),
                "reconfigured": [],
            }
        ray.kill(handle, no_restart=True)
        wait_until_gone(SCHEDULER_NAME)
        handle = scheduler_handle(settings)
    return {"status": "ok", **ray.get(handle.start.remote()), "reconfigured": changed}


def scale_analyzers(size: int, *, address: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    import ray

    from stockteacher.cluster.scheduler import scheduler_handle

    settings, _ = prepare(settings, address=address, require_cluster=True)
    try:
        handle = scheduler_handle(settings, create=False)
    except ValueError:
        return {"status": "not_running", "detail": "the analyzer pool lives in the scheduler; run `scheduler start`"}
    return {"status": "ok", **ray.get(handle.resize_analyzers.remote(size))}

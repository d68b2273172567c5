"""`stockteacher demo`: the embedded default, end to end on one machine.

Local Ray, SQLite under `./var` (migrated), the `sample` source, the offline analyzer unless
`OPENAI_API_KEY` is set, one full pipeline sweep with progress, the scheduler left running,
and Ray Serve on http://127.0.0.1:8000 with the web page. `--once` stops after the sweep,
the start of Serve and a health check. Ctrl-C shuts everything down.

`quiet` (`--json`) says nothing on the way: the caller prints the JSON summary, alone.
`verbose` streams the Ray workers' logs to the console (else they stay in the session's files).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import httpx

from stockteacher.settings import CollectionSchedule, Settings

__all__ = ["SAMPLE_TICKERS", "run_demo"]

SAMPLE_TICKERS = ("AAPL", "TSLA", "NVDA", "MSFT", "005930.KS", "000660.KS")
APP_NAME = "stockteacher"


def _say(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _demo_settings(settings: Settings) -> Settings:
    """Sample tickers every hour from the bundled data, unless schedules are configured."""
    if settings.collection_schedules:
        return settings
    schedules = [CollectionSchedule(ticker=t, source="sample", interval_minutes=60) for t in SAMPLE_TICKERS]
    return settings.model_copy(update={"collection_schedules": schedules})


def _ensure_secret_key(settings: Settings, *, quiet: bool) -> Settings:
    """Channel secrets are sealed with SECRET_KEY; a first demo without one makes one and keeps
    it in `./.env` (git-ignored), so channels set up on the page still open after a restart."""
    if settings.secret_keys:
        return settings
    import os
    from pathlib import Path

    from pydantic import SecretStr

    from stockteacher.core.crypto import new_key

    key, path = new_key(), Path(".env")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as env:
        env.write(f"\n# made by `stockteacher demo`: seals channel secrets (keep it)\nSECRET_KEY={key}\n")
    _say(f"[demo] SECRET_KEY was not set: made one and saved it in {path.resolve()}", quiet=quiet)
    return settings.model_copy(update={"secret_key": SecretStr(key)})


def _wait_healthy(url: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: str = "no answer"
    with httpx.Client(timeout=5, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")


def run_demo(settings: Settings, *, once: bool = False, host: str = "127.0.0.1", port: int = 8000,
             dashboard: bool = True, quiet: bool = False, verbose: bool = False) -> dict[str, Any]:  # fmt: skip
    import ray
    from ray import serve

    from stockteacher.api.auth import require_loopback_for_single_user
    from stockteacher.api.serve import build_application
    from stockteacher.cluster.entrypoints import prepare
    from stockteacher.cluster.runtime import connect
    from stockteacher.cluster.scheduler import scheduler_handle
    from stockteacher.cluster.sweep import run_on_ray

    settings = _demo_settings(settings.model_copy(update={"api_host": host, "api_port": port}))
    settings = _ensure_secret_key(settings, quiet=quiet)
    require_loopback_for_single_user(settings)
    mode = "OpenAI" if settings.uses_openai else "offline analyzer (set OPENAI_API_KEY for the LLM)"
    _say(f"[demo] database {settings.dsn}; analysis: {mode}", quiet=quiet)
    info = connect("local", include_dashboard=dashboard, dashboard_host="127.0.0.1", log_to_driver=verbose)
    settings, _ = prepare(settings)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        tickers = list(dict.fromkeys(s.ticker for s in settings.collection_schedules if s.enabled))
        pairs = [(s.ticker, s.source) for s in settings.collection_schedules if s.enabled]
        if all(source == "sample" for _, source in pairs):
            from stockteacher.track.sample_history import seed_sample_history

            added = seed_sample_history(settings, tickers)
            if added:
                _say(f"[demo] added {added} synthetic past reports (marked [예시]) so the track record has history",
                     quiet=quiet)  # fmt: skip
        _say(f"[demo] one pipeline sweep over {len(tickers)} tickers: {', '.join(tickers)}", quiet=quiet)
        summary = run_on_ray(settings, pairs, progress=not quiet).summary()
        _say(
            f"[demo] sweep {summary['status']}: saved {summary.get('saved', 0)} articles, "
            f"published {len(summary.get('insight_ids', []))} reports",
            quiet=quiet,
        )
        track = summary.get("track") or {}
        if track.get("bars_stored") is not None:
            _say(f"[demo] prices: {track['bars_stored']} daily bars stored, {track['outcomes_added']} report "
                 f"outcomes known", quiet=quiet)  # fmt: skip
        if not once:
            handle = scheduler_handle(settings)
            ray.get(handle.start.remote())
            status = ray.get(handle.status.remote())
            next_due = min(status["next_due"].values(), default="-")
            _say(f"[demo] scheduler running: {status['schedules']} schedules, next due {next_due}", quiet=quiet)
        serve.start(http_options={"host": host, "port": port})
        serve.run(build_application(settings), name=APP_NAME, route_prefix="/", blocking=False)
        base = f"http://{host}:{port}"
        health = _wait_healthy(f"{base}/healthz")
        result = {
            "status": "ok" if summary.get("status") == "ok" else "failed",
            "web": f"{base}/",
            "api_docs": f"{base}/docs",
            "dashboard": f"http://{info['dashboard_url']}" if info.get("dashboard_url") else None,
            "health": health,
            "sweep": summary,
        }
        if not quiet:
            print(f"StockTeacher is up:\n  web page   {result['web']}\n  API docs   {result['api_docs']}")
            if result["dashboard"]:
                print(f"  dashboard  {result['dashboard']}")
            sys.stdout.flush()
        if not once:
            _say("[demo] Ctrl-C to stop", quiet=quiet)
            while not stop.wait(0.5):
                pass
            _say("[demo] shutting down", quiet=quiet)
        return result
    finally:
        signal.signal(signal.SIGINT, previous)
        _shutdown(settings, once=once)


def _shutdown(settings: Settings, *, once: bool) -> None:
    import ray
    from ray import serve

    from stockteacher.cluster.scheduler import scheduler_handle

    if not ray.is_initialized():
        return
    if not once:
        try:
            handle = scheduler_handle(settings, create=False)
            ray.get(handle.stop.remote(), timeout=30)
            ray.kill(handle, no_restart=True)
        except Exception as exc:  # shutting down anyway: say what failed, do not hide it
            _say(f"[demo] scheduler stop: {type(exc).__name__}: {exc}")
    try:
        serve.shutdown()
    finally:
        ray.shutdown()

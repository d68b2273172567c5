"""The `stockteacher` command line.

    stockteacher settings check [--json]
    stockteacher db upgrade [--revision REV] | db downgrade REV | db current
    stockteacher collect TICKER --source SOURCE [--path FILE] [--json]
    stockteacher dart refresh-corp-codes [--json]     (OpenDART's stock code → corp code map)
    stockteacher analyze TICKER [--reanalyze] [--json]
    stockteacher publish [--ticker T] [--json]
    stockteacher run-once [--tickers A,B] [--source S] [--address RAY] [--json] [--verbose]
    stockteacher scheduler start|stop|status|run-now [--address RAY] [--json]
    stockteacher scale analyzers N [--address RAY] [--json]
    stockteacher users create NAME [--admin] | users add-key NAME | users revoke NAME | users list
    stockteacher tickers add SYMBOL [--name-ko N] [--name-en N] [--alias A ...] [--exchange X] [--country CC]
    stockteacher tickers remove SYMBOL | tickers list [QUERY] [--added] [--limit N]
    stockteacher notify run-once [--json] | outbox list [--status S] | outbox retry [--id N]
    stockteacher serve [--host H] [--port P]          (the API + web page on plain uvicorn)
    stockteacher demo [--once] [--port P] [--verbose] (everything, locally, on Ray Serve)

`run-once` and `demo` show one progress line per stage on stderr (in place on a terminal);
`--json` prints nothing but the JSON; `--verbose` streams the Ray workers' logs to the
console too (by default they stay in the Ray session's log files).

Exit codes: 0 success, 1 the work failed (the reason is printed and recorded in `job_runs`),
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from stockteacher.core.errors import SetupError
from stockteacher.settings import SOURCE_NAMES, Settings, SettingsError, load_settings, masked_settings

__all__ = ["main", "refusal"]


def _print_json(payload: Any, *, file: TextIO | None = None) -> None:
    print(json.dumps(payload, ensure_ascii=False, default=str), file=file or sys.stdout, flush=True)


def _stdout_for_json_only() -> TextIO:
    """For `--json` on Ray: the real stdout, kept for the summary, while anything else printed
    to `sys.stdout` from now to the exit goes to stderr. Ray's driver prints the raylet's
    warnings ("N PYTHON worker processes have been started …") on stdout even with
    `log_to_driver=False`, before and after the summary."""
    real = sys.stdout
    sys.stdout = sys.stderr
    return real


def _settings_and_logging(*, database: bool = False) -> Settings:
    """Settings and logging; with `database`, the database ready too (SQLite migrates itself;
    PostgreSQL must answer at this code's revision, else `DatabaseNotReady`, exit 2)."""
    from stockteacher.logs import configure_logging

    settings = load_settings()
    configure_logging(settings)
    if database:
        from stockteacher.store import migrate
        from stockteacher.store.health import check_database

        migrate.upgrade_if_sqlite(settings.dsn)
        check_database(settings.dsn)
    return settings


def refusal(exc: BaseException) -> dict[str, Any] | None:
    """The JSON summary for an error that means the work cannot start here (exit code 2), or
    None for a failure of the work itself."""
    from stockteacher.core.errors import SetupError

    if isinstance(exc, SetupError):
        code = getattr(exc, "code", "setup")
    elif isinstance(exc, ValueError | FileNotFoundError):
        code = "bad_input"
    else:
        return None
    return {"status": "failed", "error_code": code, "error": str(exc).strip().splitlines()[0][:1000]}


def cmd_settings_check(args: argparse.Namespace) -> int:
    settings = load_settings()
    shown = masked_settings(settings)
    if args.json:
        _print_json(shown)
    else:
        width = max(len(k) for k in shown)
        for key, value in shown.items():
            print(f"{key:<{width}}  {json.dumps(value, ensure_ascii=False, default=str)}")
        print("settings: OK")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from stockteacher.store import migrate
    from stockteacher.store.health import current_revision

    settings = _settings_and_logging()
    current_revision(settings.dsn)  # an unreachable database: one line, exit 2
    if args.db_command == "upgrade":
        migrate.upgrade(settings.dsn, args.revision)
    elif args.db_command == "downgrade":
        migrate.downgrade(settings.dsn, args.revision)
    revision = migrate.current(settings.dsn)
    if getattr(args, "json", False):
        _print_json({"revision": revision})
    else:
        print(f"database at revision {revision or '(empty)'}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from stockteacher.logs import new_trace_id
    from stockteacher.pipeline import collect_stage
    from stockteacher.sources.base import SourceError
    from stockteacher.store.db import StoreError
    from stockteacher.tickers.registry import TickerError

    settings = _settings_and_logging(database=True)
    trace_id = new_trace_id()
    try:
        outcome = collect_stage(settings, args.ticker, args.source, trace_id=trace_id, path=args.path)
    except TickerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (SourceError, StoreError) as exc:
        payload = {"status": "failed", "error_code": getattr(exc, "code", "error"), "error": str(exc)}
        if args.json:
            _print_json(payload)
        else:
            print(f"collect failed [{payload['error_code']}]: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json({**outcome.counts(), "invalid": outcome.invalid})
    else:
        dropped = f", {outcome.invalid} unreadable dropped" if outcome.invalid else ""
        print(
            f"{args.ticker.upper()} from {args.source}: fetched {outcome.fetched}, unique {outcome.unique}, "
            f"saved {outcome.saved}{dropped} (trace_id {trace_id})"
        )
    return 0


def cmd_dart(args: argparse.Namespace) -> int:
    """Download OpenDART's corp-code map into `DART_CORP_CODE_PATH` (collect refreshes it by
    itself when it is older than `DART_CORP_CODE_MAX_AGE_HOURS`)."""
    import asyncio

    from stockteacher.sources.base import SourceConfigError, SourceError
    from stockteacher.sources.dart import refresh_corp_codes

    settings = _settings_and_logging()
    try:
        codes = asyncio.run(refresh_corp_codes(settings))
    except SourceConfigError as exc:  # no key, or OpenDART refused it: configuration, exit 2
        print(f"configuration error: {exc}", file=sys.stderr)
        if args.json:
            _print_json({"status": "failed", "error_code": exc.code, "error": str(exc)})
        return 2
    except SourceError as exc:
        if args.json:
            _print_json({"status": "failed", "error_code": exc.code, "error": str(exc)})
        print(f"refresh failed [{exc.code}]: {exc}", file=sys.stderr)
        return 1
    listed = len(codes.by_stock_code)
    if args.json:
        _print_json({"listed": listed, "path": settings.dart_corp_code_path, "fetched_at": codes.fetched_at})
    else:
        print(f"DART corp codes: {listed} listed companies loaded into {settings.dart_corp_code_path}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """The pipeline's analyze and publish stages for one ticker, in this process: the report
    appears at once (`publish` is for analyses made elsewhere, e.g. on Ray)."""
    from stockteacher.pipeline import run_pipeline
    from stockteacher.tickers.registry import TickerError, lookup

    settings = _settings_and_logging(database=True)
    try:
        ticker = lookup(args.ticker).symbol
    except TickerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_pipeline(settings, [(ticker, None)], stages=("analyze", "publish"), reanalyze=args.reanalyze)
    outcome = result.analyzed[ticker]
    if result.errors:
        error = result.errors[0]
        payload = {
            "status": "failed",
            "error_code": error.error_code,
            "error": error.error,
            "cost_usd": round(outcome.cost_usd, 6),
        }
        if args.json:
            _print_json(payload)
        else:
            print(f"{error.stage} failed [{error.error_code}]: {error.error}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(outcome.summary())
    elif outcome.status == "no_articles":
        print(f"{args.ticker.upper()}: no new stories to analyse")
    else:
        print(
            f"{args.ticker.upper()}: {outcome.status} report {outcome.insight_id} with {outcome.model} "
            f"({outcome.prompt_tokens}+{outcome.completion_tokens} tokens, ${outcome.cost_usd:.5f})"
        )
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from stockteacher.publish.materialize import materialize_reports
    from stockteacher.tickers.registry import lookup

    settings = _settings_and_logging(database=True)
    ticker = lookup(args.ticker).symbol if args.ticker else None
    outcome = materialize_reports(settings=settings, ticker=ticker)
    summary = outcome.summary()
    if args.json:
        _print_json({"published": summary["published"], "skipped": summary["skipped"], "drafts": summary["drafts"]})
    else:
        print(f"published {summary['published']}, drafts {summary['drafts']}, skipped {summary['skipped']}")
    return 0


def _ray_result(summary: dict[str, Any], as_json: bool, *, stdout: TextIO | None = None) -> int:
    if as_json:
        _print_json(summary, file=stdout)
    else:
        print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    return 0 if summary.get("status") == "ok" else 1


def cmd_run_once(args: argparse.Namespace) -> int:
    from stockteacher.cluster.entrypoints import run_once_job

    stdout = args.json_stdout
    try:
        summary = run_once_job(
            args.tickers,
            source=args.source,
            address=args.address,
            settings=load_settings(),
            progress=not args.json,
            verbose=args.verbose,
        )
    except SetupError:
        raise
    except ValueError as exc:  # no tickers, or a ticker that cannot be one
        print(f"error: {exc}", file=sys.stderr)
        if args.json:
            _print_json(refusal(exc), file=stdout)
        return 2
    return _ray_result(summary, args.json, stdout=stdout)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from stockteacher.cluster.entrypoints import scheduler_command

    return _ray_result(scheduler_command(args.action, address=args.address, settings=load_settings()), args.json)


def cmd_scale(args: argparse.Namespace) -> int:
    from stockteacher.cluster.entrypoints import scale_analyzers

    if args.replicas < 1:
        print("error: the analyzer pool needs at least one replica", file=sys.stderr)
        return 2
    return _ray_result(scale_analyzers(args.replicas, address=args.address, settings=load_settings()), args.json)


def cmd_users(args: argparse.Namespace) -> int:
    from stockteacher.accounts import service as auth

    settings = _settings_and_logging(database=True)
    try:
        if args.users_command == "create":
            user_id, key = auth.create_user(settings, args.name, role="admin" if args.admin else "user")
            payload: Any = {"user_id": user_id, "role": "admin" if args.admin else "user", "api_key": key}
        elif args.users_command == "add-key":
            payload = {"user_id": args.name, "api_key": auth.add_key(settings, args.name)}
        elif args.users_command == "revoke":
            payload = {"user_id": args.name, "revoked_keys": auth.revoke_keys(settings, args.name)}
        else:
            payload = auth.list_users(settings)
    except auth.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json or args.users_command == "list":
        _print_json(payload)
    elif "api_key" in payload:
        print(f"user {payload['user_id']}: API key (shown once, store it now):\n{payload['api_key']}")
    else:
        print(f"user {payload['user_id']}: {payload['revoked_keys']} key(s) revoked")
    return 0


def _ticker_json(info: Any) -> dict[str, Any]:
    from stockteacher.tickers.models import TickerOut

    return TickerOut.of(info).model_dump()


def cmd_tickers(args: argparse.Namespace) -> int:
    from stockteacher.core.errors import InvalidRequest, NotFound
    from stockteacher.store.db import session_scope
    from stockteacher.tickers import service

    settings = _settings_and_logging(database=True)
    try:
        with session_scope(settings.dsn) as db_session:
            if args.tickers_command == "add":
                addition = service.TickerAddition(
                    args.symbol, args.name_en, args.name_ko, tuple(args.alias or ()), args.exchange, args.country
                )
                payload: Any = _ticker_json(service.add(addition, db_session=db_session))
            elif args.tickers_command == "remove":
                service.remove(args.symbol, db_session=db_session)
                payload = {"ticker": args.symbol.strip().upper(), "removed": True}
            elif args.added:
                payload = [_ticker_json(info) for info in service.added(db_session=db_session)]
            else:
                found = service.search(args.query or "", limit=args.limit, db_session=db_session)
                payload = [_ticker_json(info) for info in found]
    except (InvalidRequest, NotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.json:
            _print_json(refusal(ValueError(str(exc))))
        return 2
    if args.json:
        _print_json(payload)
    elif args.tickers_command == "add":
        names = " / ".join(n for n in (payload["name_ko"], payload["name_en"]) if n)
        aliases = ", ".join(payload["aliases"]) or "none"
        print(f"ticker {payload['ticker']}: {names} (exchange {payload['exchange'] or '?'}; aliases: {aliases})")
    elif args.tickers_command == "remove":
        print(f"ticker {payload['ticker']}: additions removed")
    else:
        for row in payload:
            names = " / ".join(n for n in (row["name_ko"], row["name_en"]) if n)
            print(f"{row['ticker']:<12} {row['exchange'] or '':<8} {names}  {', '.join(row['aliases'])}".rstrip())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from stockteacher.api.app import create_app
    from stockteacher.api.auth import require_loopback_for_single_user

    settings = _settings_and_logging(database=True)
    host = args.host or settings.api_host
    require_loopback_for_single_user(settings, host)
    # log_config=None: uvicorn's loggers go through ours, which mask keys (e.g. ?access_token= in access logs)
    uvicorn.run(create_app(settings), host=host, port=args.port or settings.api_port, log_config=None)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stockteacher.demo import run_demo

    settings = _settings_and_logging()
    stdout = args.json_stdout
    result = run_demo(
        settings,
        once=args.once,
        host=args.host,
        port=args.port,
        dashboard=not args.no_dashboard,
        quiet=args.json,
        verbose=args.verbose,
    )
    if args.json:
        _print_json(result, file=stdout)
    return 0 if result["status"] == "ok" else 1


def cmd_notify(args: argparse.Namespace) -> int:
    from stockteacher.notify.notifier import notify_core

    settings = _settings_and_logging(database=True)
    summary = notify_core(settings)
    if args.json:
        _print_json(summary)
    else:
        print(
            f"notify: planned {summary['planned']}, sent {summary['sent']}, "
            f"retrying {summary['retried']}, dead {summary['dead']} (trace_id {summary['trace_id']})"
        )
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from stockteacher.notify import outbox
    from stockteacher.store.db import session_scope

    settings = _settings_and_logging(database=True)
    with session_scope(settings.dsn) as session:
        if args.outbox_command == "retry":
            payload: Any = {"requeued": outbox.requeue(db_session=session, ids=args.id or ())}
        else:
            payload = outbox.list_deliveries(db_session=session, status=args.status, limit=args.limit)
    if args.json or args.outbox_command == "retry":
        _print_json(payload)
    else:
        for d in payload:
            print(
                f"{d['id']:>6} {d['status']:<8} {d['channel']:<8} {d['user_id']:<16} {d['insight_id']} "
                f"{d['reason']:<11} attempts={d['attempts']} {d['last_error'] or ''}"
            )
    return 0


def cmd_secret_key(args: argparse.Namespace) -> int:
    """A new SECRET_KEY (a Fernet key) on stdout, for `.env` or the environment; with
    `--reseal`, every stored channel secret sealed again under the first key of SECRET_KEY."""
    if not args.reseal:
        from stockteacher.core.crypto import new_key

        print(new_key())
        return 0
    from stockteacher.channels.service import reseal_all
    from stockteacher.store.db import session_scope

    settings = _settings_and_logging(database=True)
    with session_scope(settings.dsn) as session:
        count = reseal_all(settings, db_session=session)
    print(f"resealed {count} stored secret(s) under the first SECRET_KEY; the keys after it can go")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stockteacher", description="Stock news → beginner-friendly reports, on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_settings = sub.add_parser("settings", help="inspect configuration")
    s_sub = p_settings.add_subparsers(dest="settings_command", required=True)
    p_check = s_sub.add_parser("check", help="validate settings and print them, secrets masked")
    p_check.add_argument("--json", action="store_true")
    p_check.set_defaults(func=cmd_settings_check)

    p_key = sub.add_parser(
        "secret-key", help="print a new SECRET_KEY (encrypts channel secrets): echo SECRET_KEY=$(…) >> .env"
    )
    p_key.add_argument(
        "--reseal", action="store_true", help="seal stored channel secrets again under the first key of SECRET_KEY"
    )
    p_key.set_defaults(func=cmd_secret_key)

    p_db = sub.add_parser("db", help="database migrations")
    d_sub = p_db.add_subparsers(dest="db_command", required=True)
    p_up = d_sub.add_parser("upgrade", help="migrate to the newest schema (alembic upgrade head)")
    p_up.add_argument("--revision", default="head")
    p_up.add_argument("--json", action="store_true")
    p_down = d_sub.add_parser("downgrade", help="migrate down to REVISION ('base' drops everything)")
    p_down.add_argument("revision")
    p_down.add_argument("--json", action="store_true")
    p_cur = d_sub.add_parser("current", help="print the database's revision")
    p_cur.add_argument("--json", action="store_true")
    p_db.set_defaults(func=cmd_db)

    p_collect = sub.add_parser("collect", help="collect one ticker's news from one source")
    p_collect.add_argument("ticker", help="e.g. AAPL, 005930.KS")
    p_collect.add_argument("--source", required=True, choices=SOURCE_NAMES)
    p_collect.add_argument("--path", help="file for --source file (.jsonl, .csv, .parquet)")
    p_collect.add_argument("--json", action="store_true", help="print {fetched, unique, saved} as the last line")
    p_collect.set_defaults(func=cmd_collect)

    p_dart = sub.add_parser("dart", help="OpenDART (Korean regulatory filings)")
    dart_sub = p_dart.add_subparsers(dest="dart_command", required=True)
    p_refresh = dart_sub.add_parser(
        "refresh-corp-codes", help="download the stock code → DART corp code map into DART_CORP_CODE_PATH"
    )
    p_refresh.add_argument("--json", action="store_true", help="print {listed, path, fetched_at} as the last line")
    p_dart.set_defaults(func=cmd_dart)

    p_analyze = sub.add_parser("analyze", help="analyse a ticker's new stories and publish the report")
    p_analyze.add_argument("ticker")
    p_analyze.add_argument(
        "--reanalyze",
        action="store_true",
        help="analyse the latest analysed story set again (free if unchanged: cached)",
    )
    p_analyze.add_argument(
        "--json",
        action="store_true",
        help="print {status, insight_id, model, prompt_tokens, completion_tokens, cost_usd} last",
    )
    p_analyze.set_defaults(func=cmd_analyze)

    p_publish = sub.add_parser("publish", help="turn analyses without a report into reports")
    p_publish.add_argument("--ticker")
    p_publish.add_argument("--json", action="store_true", help="print {published, skipped} as the last line")
    p_publish.set_defaults(func=cmd_publish)

    p_run = sub.add_parser("run-once", help="one full sweep on Ray: collect → analyze → publish")
    p_run.add_argument("--tickers", help="comma-separated; default: the enabled COLLECTION_SCHEDULES tickers")
    p_run.add_argument("--source", default="sample", choices=SOURCE_NAMES)
    p_run.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    p_run.add_argument("--json", action="store_true", help="print only the JSON summary (no progress)")
    p_run.add_argument("--verbose", action="store_true", help="stream the Ray workers' logs to the console too")
    p_run.set_defaults(func=cmd_run_once)

    p_sched = sub.add_parser("scheduler", help="the cluster's scheduler actor")
    p_sched.add_argument("action", choices=["start", "stop", "status", "run-now"])
    p_sched.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    p_sched.add_argument("--json", action="store_true")
    p_sched.set_defaults(func=cmd_scheduler)

    p_scale = sub.add_parser("scale", help="resize a pool while it runs")
    p_scale.add_argument("pool", choices=["analyzers"])
    p_scale.add_argument("replicas", type=int)
    p_scale.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    p_scale.add_argument("--json", action="store_true")
    p_scale.set_defaults(func=cmd_scale)

    p_users = sub.add_parser("users", help="accounts and API keys")
    u_sub = p_users.add_subparsers(dest="users_command", required=True)
    p_create = u_sub.add_parser("create", help="create a user and print its API key (once)")
    p_create.add_argument("name", help="2-63 characters: a-z 0-9 . _ -")
    p_create.add_argument("--admin", action="store_true", help="may read /api/jobs and everyone's usage")
    for name, text in (("add-key", "another API key for NAME"), ("revoke", "revoke every key of NAME")):
        p = u_sub.add_parser(name, help=text)
        p.add_argument("name")
    u_sub.add_parser("list", help="users and roles")
    for p in u_sub.choices.values():
        p.add_argument("--json", action="store_true")
    p_users.set_defaults(func=cmd_users)

    p_tickers = sub.add_parser("tickers", help="the ticker registry: search it, add tickers and aliases")
    t_sub = p_tickers.add_subparsers(dest="tickers_command", required=True)
    p_tadd = t_sub.add_parser("add", help="add a ticker, or names and aliases to one (stored in the database)")
    p_tadd.add_argument("symbol", help="e.g. 035420.KS, BRK.B")
    p_tadd.add_argument("--name-ko", help="the company's Korean name (네이버)")
    p_tadd.add_argument("--name-en", help="the company's English name (NAVER)")
    p_tadd.add_argument("--alias", action="append", help="another name it goes by (repeatable; any script)")
    p_tadd.add_argument("--exchange", help="KOSPI, KOSDAQ, NASDAQ, NYSE, … (.KS/.KQ imply KOSPI/KOSDAQ)")
    p_tadd.add_argument("--country", help="two letters: KR, US, … (.KS/.KQ imply KR)")
    p_tremove = t_sub.add_parser("remove", help="take back a ticker's additions (bundled tickers stay)")
    p_tremove.add_argument("symbol")
    p_tlist = t_sub.add_parser("list", help="search the registry (symbol, name, alias, prefix), or list additions")
    p_tlist.add_argument("query", nargs="?", help="what to look for; without it, every ticker")
    p_tlist.add_argument("--added", action="store_true", help="only what operators added")
    p_tlist.add_argument("--limit", type=int, default=20)
    for p in t_sub.choices.values():
        p.add_argument("--json", action="store_true")
    p_tickers.set_defaults(func=cmd_tickers)

    p_serve = sub.add_parser("serve", help="the API and web page on plain uvicorn (no Ray)")
    p_serve.add_argument("--host", help="default: API_HOST")
    p_serve.add_argument("--port", type=int, help="default: API_PORT")
    p_serve.set_defaults(func=cmd_serve)

    p_notify = sub.add_parser("notify", help="the notifier")
    n_sub = p_notify.add_subparsers(dest="notify_command", required=True)
    p_nrun = n_sub.add_parser("run-once", help="queue deliveries for new reports and send the due ones")
    p_nrun.add_argument("--json", action="store_true", help="print {planned, sent, retried, dead} as the last line")
    p_notify.set_defaults(func=cmd_notify)

    p_outbox = sub.add_parser("outbox", help="the delivery outbox")
    o_sub = p_outbox.add_subparsers(dest="outbox_command", required=True)
    p_olist = o_sub.add_parser("list", help="recent deliveries, newest first")
    p_olist.add_argument("--status", choices=["pending", "sent", "failed", "dead"])
    p_olist.add_argument("--limit", type=int, default=50)
    p_olist.add_argument("--json", action="store_true")
    p_oretry = o_sub.add_parser("retry", help="send failed or dead deliveries again (all, or --id …)")
    p_oretry.add_argument("--id", type=int, action="append")
    p_oretry.add_argument("--json", action="store_true")
    p_outbox.set_defaults(func=cmd_outbox)

    p_demo = sub.add_parser("demo", help="local Ray + SQLite + sample news + web page on :8000")
    p_demo.add_argument("--once", action="store_true", help="sweep, serve, check health, then exit")
    p_demo.add_argument("--host", default="127.0.0.1")
    p_demo.add_argument("--port", type=int, default=8000)
    p_demo.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    p_demo.add_argument("--json", action="store_true", help="print only a JSON summary (no progress)")
    p_demo.add_argument("--verbose", action="store_true", help="stream the Ray workers' logs to the console too")
    p_demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    on_ray = args.func in (cmd_run_once, cmd_demo)
    args.json_stdout = _stdout_for_json_only() if on_ray and args.json else sys.stdout
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            _print_json(refusal(exc), file=args.json_stdout)
        return 2
    except SetupError as exc:  # the Ray address, a database that is unreachable or not migrated
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            _print_json(refusal(exc), file=args.json_stdout)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

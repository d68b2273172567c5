"""One line on stderr per finished stage, for the jobs, `run-once`, `backfill` and the demo."""

from __future__ import annotations

import sys

from stockteacher.pipeline.results import Analyzed, Collected, Notified

__all__ = ["print_progress"]


def progress_line(stage: str, result: Collected | Analyzed | Notified) -> str:
    if isinstance(result, Notified):
        return f"[notify] planned {result.planned}, sent {result.sent}, retrying {result.retried}, dead {result.dead}"
    if isinstance(result, Collected):
        return (
            f"[collect] {result.ticker} from {result.source}: fetched {result.fetched}, "
            f"unique {result.unique}, saved {result.saved}"
        )
    return f"[{stage}] {result.ticker}: {result.status} {result.insight_id or ''} {result.error_code or ''}".rstrip()


def print_progress(stage: str, result: Collected | Analyzed | Notified) -> None:
    print(progress_line(stage, result), file=sys.stderr, flush=True)

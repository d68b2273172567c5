"""Shared by the job scripts: make the repository importable, print the summary, exit code.

`ray job submit --working-dir . -- python jobs/<job>.py` runs a script with `jobs/` first on
sys.path; the repository root is added so that `stockteacher` imports from the uploaded
working directory even on a node where it is not installed.

Exit codes are the CLI's: 0 the work succeeded, 1 it failed (the reason is in the summary and
in `job_runs`), 2 the job cannot start here — configuration, the Ray address, a database that
is unreachable or not migrated, bad input — with one line on stderr that says what to do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run(work: Callable[[], dict[str, Any]]) -> int:
    """Run `work`; print its JSON summary as the last line; 0 only if its status is "ok"."""
    from stockteacher.cli import refusal

    # The summary is stdout's last line: anything else printed there from now to the exit
    # (Ray's driver prints the raylet's warnings on stdout, even after the summary) goes to stderr.
    stdout, sys.stdout = sys.stdout, sys.stderr
    refused: dict[str, Any] | None = None
    try:
        summary = work()
    except Exception as exc:  # a job must end with its JSON line whatever happened
        refused = refusal(exc)
        if refused is None:
            summary = {"status": "failed", "error_code": type(exc).__name__, "error": str(exc)[:500]}
        else:
            summary = refused
            print(f"error: {summary['error']}", file=sys.stderr, flush=True)
    print(json.dumps(summary, ensure_ascii=False, default=str), file=stdout, flush=True)
    if summary.get("status") == "ok":
        return 0
    return 2 if refused is not None else 1

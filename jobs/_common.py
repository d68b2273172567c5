"""Shared by the job scripts: make the repository importable, print the summary, exit code.

`ray job submit --working-dir . -- python jobs/<job>.py` runs a script with `jobs/` first on
sys.path; the repository root is added so that `stockteacher` imports from the uploaded
working directory even on a node where it is not installed.
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
    from stockteacher.settings import SettingsError

    try:
        summary = work()
    except SettingsError as exc:
        summary = {"status": "failed", "error_code": "configuration", "error": str(exc)}
    except (ValueError, FileNotFoundError) as exc:
        summary = {"status": "failed", "error_code": "bad_input", "error": str(exc)}
    except Exception as exc:  # a job must end with its JSON line whatever happened
        summary = {"status": "failed", "error_code": type(exc).__name__, "error": str(exc)[:500]}
    sys.stdout.flush()
    print(json.dumps(summary, ensure_ascii=False, default=str), flush=True)
    return 0 if summary.get("status") == "ok" else 1

"""The pipeline, defined once in plain Python: collect → analyze → publish → notify.

- `pipeline.stages`  — the four stages, each a function returning a typed result;
- `pipeline.results` — those results (frozen dataclasses that pickle across Ray) and the
  `SweepResult` with the JSON summary;
- `pipeline.sweep`   — `Sweep`, the order of the stages, and `run_pipeline`, which runs a
  sweep in this process;
- `pipeline.progress` — one line per stage for a person to follow, fed by a sweep's events.

No Ray here: `cluster.sweep.run_sweep` runs the same `Sweep` on Ray tasks and the analyzer
pool. The CLI, the demo, the jobs and the tests all go through one of the two.
"""

from __future__ import annotations

from stockteacher.pipeline.progress import ProgressBoard, ProgressDisplay, SweepProgress, sweep_progress
from stockteacher.pipeline.results import (
    Analyzed,
    Collected,
    Notified,
    Planned,
    Published,
    StageError,
    SweepResult,
    Tracked,
)
from stockteacher.pipeline.stages import STAGES, analyze_stage, collect_stage, notify_stage, publish_stage, track_stage
from stockteacher.pipeline.sweep import Progress, Sweep, run_pipeline

__all__ = [
    "STAGES",
    "Tracked",
    "track_stage",
    "Analyzed",
    "Collected",
    "Notified",
    "Planned",
    "Progress",
    "ProgressBoard",
    "ProgressDisplay",
    "Published",
    "StageError",
    "Sweep",
    "SweepProgress",
    "SweepResult",
    "analyze_stage",
    "collect_stage",
    "notify_stage",
    "publish_stage",
    "run_pipeline",
    "sweep_progress",
]

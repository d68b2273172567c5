"""The session's local Ray (2 CPUs, no dashboard, usage stats off, auth mode explicit), and an
LLM responder for the fake OpenAI server that cites the prompt's first story."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "citing_responder", "job_env", "last_json", "start_local_ray", "stop_local_ray"]

_STORY = re.compile(r"\[story id=(\d+)\]")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def job_env(tmp_path: Path) -> dict[str, str]:
    """The environment a job script runs in: this venv first on PATH, no Ray address or
    database of the developer's, usage stats off, an explicit auth mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "POSTGRES_DSN", "DATABASE_URL"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE=env.get("RAY_AUTH_MODE", "disabled"),
    )
    return env


def last_json(text: str) -> dict[str, object]:
    """The last JSON line a job printed."""
    return json.loads([line for line in text.strip().splitlines() if line.startswith("{")][-1])


def start_local_ray() -> None:
    """The session's local Ray (2 CPUs, no dashboard), started if it is not running. Modules
    that drive a Ray of their own with Ray's CLI (`ray stop` stops every Ray on the machine) shut
    it down first with `stop_local_ray`; the next test that needs it starts it again."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="stockteacher", log_to_driver=False)


def stop_local_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def citing_responder(body: dict[str, Any]) -> str:
    """A valid report that cites the first story id found in the prompt."""
    prompt = "\n".join(m.get("content", "") for m in body.get("messages", []))
    ids = [int(i) for i in _STORY.findall(prompt)] or [0]
    return json.dumps(
        {
            "headline": "Report headline",
            "summary_text": "A summary that is long enough to be published as a report.",
            "keywords": ["one", "two", "three"],
            "sentiment_score": 0.1,
            "anomalies": [],
            "glossary": [{"term": "EPS", "explanation": "Earnings per share."}],
            "citations": [{"claim": "something happened", "story_ids": ids[:1]}],
        }
    )

"""One local Ray instance for the test session (2 CPUs, no dashboard, usage stats off, auth
mode explicit); named actors are removed after each test that made them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stockteacher.analysis.service import load_new_stories
from stockteacher.store.db import session_scope


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


@pytest.fixture(scope="session")
def _local_ray_at_exit() -> Iterator[None]:
    yield
    stop_local_ray()


@pytest.fixture
def ray_session(_local_ray_at_exit: None) -> None:
    start_local_ray()


@pytest.fixture
def ray_cluster(ray_session: None) -> Iterator[None]:
    """The session's Ray, with the named actors (scheduler, limiter) removed afterwards."""
    import ray

    from stockteacher.cluster.limiter import LIMITER_NAME
    from stockteacher.cluster.runtime import NAMESPACE
    from stockteacher.cluster.scheduler import SCHEDULER_NAME

    yield
    for name in (SCHEDULER_NAME, LIMITER_NAME):
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        except ValueError:
            pass


_STORY = re.compile(r"\[story id=(\d+)\]")


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


def stories_waiting(dsn: str, ticker: str) -> int:
    with session_scope(dsn) as session:
        return len(load_new_stories(session, ticker))


Factory = Callable[..., Any]

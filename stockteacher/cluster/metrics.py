"""Custom metrics (`ray.util.metrics`), exported to the Ray dashboard and Prometheus.

Metrics are created on first use inside each Ray process; recording outside Ray is a no-op,
so the plain stage functions stay testable without a cluster. Ray's exporter adds the prefix
`ray_` and counters end in `_total`: `stockteacher_llm_calls` is scraped as
`ray_stockteacher_llm_calls_total` (`prometheus_name`). `deploy/grafana/stockteacher.json`
charts them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import ray

__all__ = ["METRICS", "inc", "observe", "prometheus_name", "record_llm_call", "set_gauge"]

_COUNTERS = {
    "articles_fetched": ("stockteacher_articles_fetched", "Articles delivered by sources", ("ticker", "source")),
    "articles_unique": ("stockteacher_articles_unique", "Articles new after de-duplication", ("ticker", "source")),
    "articles_saved": ("stockteacher_articles_saved", "Articles stored", ("ticker", "source")),
    "stories": ("stockteacher_stories_new", "Stories created by clustering (not joined ones)", ("ticker",)),
    "llm_calls": ("stockteacher_llm_calls", "LLM calls (analysis, chat) by outcome", ("stage", "outcome", "model")),
    "llm_tokens": ("stockteacher_llm_tokens", "LLM tokens", ("stage", "kind", "model")),
    "llm_cost": ("stockteacher_llm_cost_usd", "LLM spend in USD", ("stage", "model")),
    "limiter_pauses": ("stockteacher_rate_limiter_pauses", "Pauses ordered by 429s", ()),
}
_GAUGES = {
    "pool_size": ("stockteacher_analyzer_pool_size", "Analyzer replicas", ()),
    "queue_depth": ("stockteacher_analyzer_queue_depth", "Analyses waiting for a replica", ()),
    "in_flight": ("stockteacher_analyzer_in_flight", "Analyses running", ()),
}
_HISTOGRAMS = {
    "llm_latency": (
        "stockteacher_llm_latency_seconds",
        "Analysis latency",
        [0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
        ("model",),
    ),
    "limiter_wait": (
        "stockteacher_rate_limiter_wait_seconds",
        "Time waited for a rate-limit slot",
        [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
        (),
    ),
    "sweep_duration": (
        "stockteacher_sweep_duration_seconds",
        "Pipeline sweep duration",
        [1, 5, 10, 30, 60, 300, 900],
        (),
    ),
}


def prometheus_name(name: str) -> str:
    """The name Prometheus shows for one of our metrics (histograms: plus _bucket/_sum/_count)."""
    counters = {spec[0] for spec in _COUNTERS.values()}
    return f"ray_{name}_total" if name in counters else f"ray_{name}"


METRICS: dict[str, str] = {  # our name → its kind
    **{spec[0]: "counter" for spec in _COUNTERS.values()},
    **{spec[0]: "gauge" for spec in _GAUGES.values()},
    **{spec[0]: "histogram" for spec in _HISTOGRAMS.values()},
}


@cache
def _metric(key: str) -> Any:
    from ray.util import metrics

    if key in _COUNTERS:
        name, description, tags = _COUNTERS[key]
        return metrics.Counter(name, description=description, tag_keys=tags)
    if key in _GAUGES:
        name, description, tags = _GAUGES[key]
        return metrics.Gauge(name, description=description, tag_keys=tags)
    name, description, boundaries, tags = _HISTOGRAMS[key]
    return metrics.Histogram(name, description=description, boundaries=boundaries, tag_keys=tags)


def _clean(tags: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in tags.items()}


def inc(key: str, value: float = 1.0, **tags: Any) -> None:
    if ray.is_initialized() and value:
        _metric(key).inc(value, tags=_clean(tags))


def set_gauge(key: str, value: float, **tags: Any) -> None:
    if ray.is_initialized():
        _metric(key).set(value, tags=_clean(tags))


def observe(key: str, value: float, **tags: Any) -> None:
    if ray.is_initialized():
        _metric(key).observe(value, tags=_clean(tags))


def record_llm_call(
    stage: str, outcome: str, model: str, prompt_tokens: int = 0, completion_tokens: int = 0, cost: float = 0.0
) -> None:
    """One LLM call of `stage` (`analyze`, `chat`): its outcome, tokens and spend."""
    inc("llm_calls", stage=stage, outcome=outcome, model=model)
    inc("llm_tokens", prompt_tokens, stage=stage, kind="prompt", model=model)
    inc("llm_tokens", completion_tokens, stage=stage, kind="completion", model=model)
    inc("llm_cost", cost, stage=stage, model=model)

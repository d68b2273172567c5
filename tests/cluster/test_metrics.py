"""The metrics as operators see them: the Grafana dashboard we ship queries only metrics we
export, under the names Prometheus shows; the README lists those names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from stockteacher.cluster.metrics import METRICS, prometheus_name

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "stockteacher.json"
SERIES = re.compile(r"\bray_stockteacher_\w+")


def _exported() -> dict[str, str]:
    """Every series name Prometheus can show → the metric it belongs to."""
    names: dict[str, str] = {}
    for metric, kind in METRICS.items():
        base = prometheus_name(metric)
        names[base] = metric
        if kind == "histogram":
            names.update({f"{base}_{suffix}": metric for suffix in ("bucket", "sum", "count")})
    return names


def test_prometheus_names_follow_rays_exporter() -> None:
    assert prometheus_name("stockteacher_llm_calls") == "ray_stockteacher_llm_calls_total"
    assert prometheus_name("stockteacher_analyzer_pool_size") == "ray_stockteacher_analyzer_pool_size"
    assert prometheus_name("stockteacher_sweep_duration_seconds") == "ray_stockteacher_sweep_duration_seconds"


def test_every_dashboard_query_names_an_exported_metric_and_every_metric_is_charted() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    charted: set[str] = set()
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = SERIES.findall(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} queries none of our metrics"
            unknown = [n for n in names if n not in exported]
            assert not unknown, f"{panel['title']}: {unknown} are not exported"
            charted.update(exported[n] for n in names)
    assert charted == set(METRICS), f"not charted: {sorted(set(METRICS) - charted)}"


def test_the_readme_lists_every_metric_under_its_prometheus_name() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [prometheus_name(m) for m in METRICS if f"`{prometheus_name(m)}`" not in readme]
    assert not missing, missing
    assert "deploy/grafana/stockteacher.json" in readme

"""Where Ray work runs: cluster.yaml's node types, as Ray custom resources.

A `collectors` node offers `{"collector": 8}` and an `analyzers` node `{"analyzer": 4}`.
Each collector task asks for 1 `collector` and each analyzer replica for 1 `analyzer`, so they
land on nodes of their type, at most 8 collectors and 4 replicas per node, and an autoscaler
that sees replicas waiting for `analyzer` starts another analyzer node.

`NODE_TYPE_RESOURCES` says when to ask: `auto` when some node of the cluster offers the
resource (a laptop or a single node without them still works), `on` always (an autoscaling
cluster whose nodes of a type may all be down; cluster.yaml sets it), `off` never.
The scheduler and rate-limiter actors ask for a little of `SCHEDULER_RESOURCE`: by default
`node:__internal_head__`, which only the head node has (Ray would otherwise put them on any
node, spot workers included); another custom resource moves them, an empty value lets Ray choose.
"""

from __future__ import annotations

from typing import Any

import ray

from stockteacher.settings import Settings

__all__ = ["ANALYZER", "COLLECTOR", "node_info", "role_resources", "scheduler_resources"]

COLLECTOR = "collector"
ANALYZER = "analyzer"


def role_resources(settings: Settings, role: str) -> dict[str, float]:
    """The custom resources a collector task or analyzer replica asks for (maybe none)."""
    if settings.node_type_resources == "off":
        return {}
    if settings.node_type_resources == "auto" and role not in ray.cluster_resources():
        return {}
    return {role: 1.0}


def scheduler_resources(settings: Settings) -> dict[str, float]:
    return {settings.scheduler_resource: 0.001} if settings.scheduler_resource else {}


def node_info() -> dict[str, Any]:
    """The node this process runs on, for status output and results: id and address."""
    from ray.util import get_node_ip_address

    return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": get_node_ip_address()}

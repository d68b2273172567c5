"""Which custom resources collectors, analyzer replicas and the scheduler ask for, on the
session's single local node (which offers no `collector` / `analyzer`)."""

from __future__ import annotations

from collections.abc import Callable

import ray

from stockteacher.cluster.placement import ANALYZER, COLLECTOR, role_resources, scheduler_resources
from stockteacher.settings import Settings


def test_auto_asks_only_for_resources_the_cluster_offers(
    ray_session: None, make_settings: Callable[..., Settings]
) -> None:
    assert COLLECTOR not in ray.cluster_resources()
    auto = make_settings()  # NODE_TYPE_RESOURCES=auto, the default
    assert role_resources(auto, COLLECTOR) == {} and role_resources(auto, ANALYZER) == {}
    always = make_settings(node_type_resources="on")  # an autoscaling cluster: ask, so a node gets started
    assert role_resources(always, COLLECTOR) == {"collector": 1.0}
    assert role_resources(make_settings(node_type_resources="off"), ANALYZER) == {}


def test_the_scheduler_stays_on_the_head_unless_told_otherwise(make_settings: Callable[..., Settings]) -> None:
    assert scheduler_resources(make_settings()) == {"node:__internal_head__": 0.001}
    assert scheduler_resources(make_settings(scheduler_resource="ondemand")) == {"ondemand": 0.001}
    assert scheduler_resources(make_settings(scheduler_resource="")) == {}

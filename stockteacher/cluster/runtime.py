"""Connecting to Ray: a running cluster (`RAY_ADDRESS`, `--address`), or a local instance."""

from __future__ import annotations

import os
from typing import Any

import ray

__all__ = ["NAMESPACE", "connect"]

NAMESPACE = "stockteacher"


def connect(address: str | None = None, *, num_cpus: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """Join the cluster at `address` (or `RAY_ADDRESS`, as `ray job submit` sets it; `auto` for
    a cluster started with `ray start` on this machine), else start a fresh local Ray.
    Returns Ray's context info (dashboard URL, address)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return {"address": ray.get_runtime_context().gcs_address, "dashboard_url": None}
    address = address or os.environ.get("RAY_ADDRESS")
    options: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": True, **kwargs}
    if address:
        context = ray.init(address=address, **options)
    else:
        context = ray.init(address="local", num_cpus=num_cpus, **options)
    return {"address": context.address_info.get("gcs_address"), "dashboard_url": context.dashboard_url}

"""Connecting to Ray: a running cluster (`RAY_ADDRESS`, `--address`), or a local instance.

The edge cases an operator meets are errors with one line that says what to do
(`ClusterAddressError`, exit code 2), not a fresh local Ray that quietly does the work
somewhere nobody looks:

- a command that only makes sense on a lasting cluster (the scheduler, `scale`) without an
  address;
- no address on a machine where `ray start` runs a cluster (pass `--address auto`, or
  `--address local` for a separate, temporary Ray);
- an address where no cluster answers.

Workers' output (every task's and actor's log events) goes to files in the Ray session's logs
directory (`/tmp/ray/session_latest/logs/worker-*.err` on each node), not to this driver's
console, where it would bury the progress lines: `log_to_driver=True` (`--verbose`) streams it
here as well.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import ray

from stockteacher.core.errors import SetupError

__all__ = [
    "NAMESPACE",
    "ClusterAddressError",
    "connect",
    "running_cluster_address",
    "wait_until_gone",
    "worker_logs_note",
]

NAMESPACE = "stockteacher"
_started_local = False  # this process started the Ray it is connected to (a local instance)
_logs: dict[str, Any] = {"dir": None, "to_driver": False}  # where this driver's workers log


class ClusterAddressError(SetupError, RuntimeError):
    """No Ray cluster where one is needed, or one where none was asked for."""

    code = "ray_address"


def running_cluster_address() -> str | None:
    """The GCS address of a cluster started with `ray start` on this machine (Ray's own record
    of it, `/tmp/ray/ray_current_cluster`), if it still answers."""
    from ray._private.utils import read_ray_address

    address = read_ray_address()
    if not address:
        return None
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return address
    except (OSError, ValueError):
        return None


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    require_cluster: bool = False,
    log_to_driver: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Join the cluster at `address` (or `RAY_ADDRESS`, as `ray job submit` sets it; `auto` for
    a cluster started with `ray start` on this machine), else start a fresh local Ray
    (`address="local"` asks for one explicitly). Workers' output stays in the session's log
    files unless `log_to_driver`. Returns Ray's context info (dashboard URL, address, whether
    it is a local instance, the logs directory)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    global _started_local
    if ray.is_initialized():
        return {
            "address": ray.get_runtime_context().gcs_address,
            "dashboard_url": None,
            "local": _started_local,
            "logs_dir": _logs["dir"],
        }
    _started_local = False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None and require_cluster:
        raise ClusterAddressError(
            "this command talks to a running Ray cluster, and none was given: pass --address auto on a "
            "node started with `ray start`, or set RAY_ADDRESS (`ray job submit` sets it for jobs)"
        )
    if address is None:
        running = running_cluster_address()
        if running:
            raise ClusterAddressError(
                f"a Ray cluster started with `ray start` runs on this machine ({running}): pass --address auto "
                "to use it, or --address local for a separate, temporary Ray"
            )
    options: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": log_to_driver, **kwargs}
    if address and address != "local":
        try:
            context = ray.init(address=address, **options)
            _started_local = False
        except ConnectionError as exc:
            raise ClusterAddressError(
                f"no Ray cluster answers at {address}: {str(exc).splitlines()[0][:200]}; start it with "
                "`ray start --head` (or `ray up cluster.yaml`), or fix --address / RAY_ADDRESS"
            ) from None
        local = False
    else:
        if require_cluster:
            raise ClusterAddressError(
                "this command talks to a lasting Ray cluster; a local Ray ends with the command: pass "
                "--address auto on a node started with `ray start`, or set RAY_ADDRESS"
            )
        # A temporary Ray ends with the command, and nobody opens its dashboard: without it, a
        # local run starts 1.5–4 s sooner and leaves the CPU to the work (the demo asks for one).
        options.setdefault("include_dashboard", False)
        context = ray.init(address="local", num_cpus=num_cpus, **options)
        local = _started_local = True
    session_dir = context.address_info.get("session_dir")
    _logs.update(dir=os.path.join(session_dir, "logs") if session_dir else None, to_driver=log_to_driver)
    return {
        "address": context.address_info.get("gcs_address"),
        "dashboard_url": context.dashboard_url,
        "local": local,
        "logs_dir": _logs["dir"],
    }


def worker_logs_note() -> str | None:
    """One line saying where the workers' log events are, for the top of a progress display."""
    if _logs["to_driver"]:
        return None  # they are on the console already
    where = f"{_logs['dir']}/worker-*.err" if _logs["dir"] else "the Ray session's logs directory"
    return f"worker logs: {where} on each node (--verbose shows them here)"


def wait_until_gone(name: str, *, timeout: float = 30.0) -> None:
    """Wait until no actor is called `name` (in our namespace) after a `ray.kill`."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the actor {name} did not go away within {timeout:.0f} s")

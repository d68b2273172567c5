"""One local Ray instance for the test session (2 CPUs, no dashboard, usage stats off, auth
mode explicit, see `tests.factories.cluster`); named actors are removed after each test that
made them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.factories.cluster import start_local_ray, stop_local_ray


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

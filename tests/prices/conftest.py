"""Fixtures for price-source tests: a fake Yahoo chart API on the local threaded server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from stockteacher.settings import Settings
from tests.servers.yahoo import FakeYahooChart


@pytest.fixture
def yahoo(httpserver: HTTPServer) -> Iterator[FakeYahooChart]:
    server = FakeYahooChart(httpserver)
    yield server
    server.close()
    httpserver.check_handler_errors()


@pytest.fixture
def yahoo_settings(make_settings: Callable[..., Settings], yahoo: FakeYahooChart) -> Callable[..., Settings]:
    """Settings pointing the Yahoo chart source at the fake, no back-off, short timeouts."""

    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "yahoo_chart_endpoint": yahoo.endpoint,
            "yahoo_timeout_seconds": 3,
            "yahoo_max_retries": 2,
            "source_backoff_seconds": 0,
            "source_max_retry_wait_seconds": 5,
        }
        base.update(overrides)
        return make_settings(**base)

    return factory

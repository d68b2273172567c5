"""HTTP hardening (`stockteacher.api.security`, and FastAPI's body limit): DNS rebinding in
single-user mode, cross-site WebSocket and state-changing requests, bounded bodies, security
headers. Each test failed before."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from stockteacher.accounts.service import create_user
from stockteacher.api.app import create_app
from stockteacher.api.security import is_loopback_host
from stockteacher.settings import Settings

LOCAL = "http://127.0.0.1:8000"


@pytest.fixture
def single_user(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    return make_settings(postgres_dsn=pg_dsn, auth_mode="single_user", analysis_provider="offline")


@pytest.fixture
def local(single_user: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(single_user), base_url=LOCAL, client=("127.0.0.1", 5000)) as client:
        yield client


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "127.0.0.2:80", "[::1]:8000", "app.localhost"])
def test_loopback_names(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "192.168.1.2", "localhost.evil.example", ""])
def test_names_that_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_a_rebound_domain_cannot_drive_the_keyless_api(local: TestClient) -> None:
    # The attacker's page at http://evil.example:8000 now resolves to 127.0.0.1: the browser
    # sends Host: evil.example:8000 from a loopback client.
    for method, path in (("get", "/api/subscriptions"), ("post", "/api/subscriptions")):
        response = local.request(method, path, headers={"Host": "evil.example:8000"}, json={"ticker": "AAPL"})
        assert response.status_code == 421, response.text
        assert "loopback names only" in response.json()["detail"]
    assert local.get("/api/subscriptions").status_code == 200  # the real page, on 127.0.0.1


def test_another_sites_page_cannot_change_anything_or_open_the_chat_socket(local: TestClient) -> None:
    evil = {"Origin": "https://evil.example"}
    refused = local.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "intraday"}, headers=evil)
    assert refused.status_code == 403 and "this machine's pages only" in refused.json()["detail"]
    assert local.get("/api/reports", headers=evil).status_code == 200  # reading is CORS's business
    with pytest.raises(WebSocketDisconnect), local.websocket_connect("/api/chat/ws/chs_x", headers=evil):
        pass
    own = local.post("/api/subscriptions", json={"ticker": "AAPL"}, headers={"Origin": "http://127.0.0.1:8000"})
    assert own.status_code == 201


def test_a_key_is_its_owners_whatever_the_host(single_user: Settings) -> None:
    _, key = create_user(single_user, "alice")
    with TestClient(create_app(single_user), base_url="http://api.example.com") as client:
        keyed = client.get("/api/notifications/policy", headers={"Authorization": f"Bearer {key}"})
        assert keyed.status_code == 200 and keyed.json()["user_id"] == "alice"


def test_request_bodies_are_bounded_declared_or_chunked(make_settings: Callable[..., Settings], pg_dsn: str) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", api_max_body_bytes=4096)
    _, key = create_user(settings, "alice")
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with TestClient(create_app(settings)) as client:
        big = b'{"ticker": "' + b"A" * 5000 + b'"}'
        declared = client.post("/api/subscriptions", content=big, headers=auth)
        assert declared.status_code == 413 and "the limit is 4096" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'{"ticker": "'
            for _ in range(10):
                yield b"A" * 1000
            yield b'"}'

        chunked = client.post("/api/subscriptions", content=chunks(), headers=auth)
        assert chunked.status_code == 413 and chunked.json()["detail"]
        assert client.post("/api/subscriptions", json={"ticker": "AAPL"}, headers=auth).status_code == 201


def test_every_response_carries_the_security_headers(local: TestClient) -> None:
    for path in ("/", "/api/reports", "/static/app.js", "/api/nope"):
        headers = local.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    refused = local.get("/api/reports", headers={"Host": "evil.example"})
    assert refused.headers["x-content-type-options"] == "nosniff"

"""The HTTP contract of API.md that every route shares: probes, authentication, CORS.

Each test drives the real app (`create_app`) on the session's PostgreSQL database through
Starlette's TestClient. The routes of each package are tested beside it
(`tests/reports/test_views.py`, `tests/subscriptions/test_views.py`, `tests/channels/test_views.py`,
`tests/operations/test_views.py`, `tests/chat/test_views.py`)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from stockteacher.accounts.service import create_user, revoke_keys
from stockteacher.api.app import create_app
from stockteacher.api.auth import require_loopback_for_single_user
from stockteacher.settings import Settings, SettingsError
from stockteacher.store.db import session_scope
from stockteacher.store.models import User, utcnow
from tests.factories.api import ApiUsers, error

# every test: a fresh reports cache, and a deadlock on its lock fails the test instead of hanging
pytestmark = pytest.mark.usefixtures("report_cache_guard")

SUMMARY_FIELDS = {"insight_id", "ticker", "published_at", "status", "sentiment_score", "headline", "tags", "favorite"}


# --- probes --------------------------------------------------------------------------------
def test_healthz_and_readyz_answer_without_a_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_config_needs_no_key(client: TestClient) -> None:
    response = client.get("/api/config")
    assert response.status_code == 200
    body = response.json()
    assert body["auth_mode"] == "api_key"
    assert body["default_locale"] in {"ko_KR", "en_US"}
    assert body["chat_mode"] in {"openai", "offline"}
    assert isinstance(body["version"], str) and body["version"]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_readyz_is_503_with_the_reason_when_the_database_does_not_answer(
    make_settings: Callable[..., Settings], closed_port: int
) -> None:
    dsn = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/stockteacher"
    with TestClient(create_app(make_settings(postgres_dsn=dsn, auth_mode="api_key"))) as down:
        assert down.get("/healthz").status_code == 200  # liveness does not depend on the database
        ready = down.get("/readyz")
        assert ready.status_code == 503
        assert "database" in ready.json()["reason"]
        # a route that needs the database says so as a 503 in the error shape, not as a 500
        listing = down.get("/api/reports", headers={"Authorization": "Bearer stk_0123_abcdef"})
        assert "database" in error(listing, 503)


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: TestClient, users: ApiUsers) -> None:
    error(client.get("/api/nothing-here", headers=users.alice), 404)
    error(client.put("/api/subscriptions", headers=users.alice, json={}), 405)


# --- authentication ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer stk_000000000000_not-a-real-key"},
        {"Authorization": "Bearer not-even-our-format"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "stk_000000000000_no-scheme"},
    ],
    ids=["missing", "wrong", "foreign-format", "empty-token", "scheme-only", "basic", "no-scheme"],
)
@pytest.mark.parametrize("path", ["/api/reports", "/api/subscriptions", "/api/notifications/policy", "/api/usage"])
def test_missing_wrong_or_malformed_key_is_401_with_a_challenge(
    client: TestClient, users: ApiUsers, headers: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=headers)
    error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_valid_key_works_and_the_scheme_is_case_insensitive(client: TestClient, users: ApiUsers) -> None:
    key = users.alice["Authorization"].removeprefix("Bearer ")
    for header in (f"Bearer {key}", f"bearer {key}", f"BEARER  {key} "):
        response = client.get("/api/notifications/policy", headers={"Authorization": header})
        assert response.status_code == 200, header
        assert response.json()["user_id"] == "alice"


def test_a_key_in_the_query_string_is_not_accepted_over_http(client: TestClient, users: ApiUsers) -> None:
    key = users.alice["Authorization"].removeprefix("Bearer ")
    error(client.get("/api/subscriptions", params={"access_token": key}), 401)


def test_revoked_keys_and_disabled_users_are_401(client: TestClient, users: ApiUsers, api_settings: Settings) -> None:
    assert client.get("/api/subscriptions", headers=users.alice).status_code == 200
    assert revoke_keys(api_settings, "alice") == 1
    revoked = client.get("/api/subscriptions", headers=users.alice)
    error(revoked, 401)
    assert revoked.headers["www-authenticate"] == "Bearer"

    with session_scope(api_settings.dsn) as session:
        session.execute(update(User).where(User.user_id == "bob").values(disabled_at=utcnow()))
    error(client.get("/api/subscriptions", headers=users.bob), 401)


@pytest.fixture
def single_user_settings(make_settings: Callable[..., Settings], pg_dsn: str) -> Settings:
    return make_settings(postgres_dsn=pg_dsn, auth_mode="single_user", analysis_provider="offline")


LOCAL = "http://127.0.0.1:8000"


def test_single_user_mode_needs_no_header_and_acts_as_demo_user(single_user_settings: Settings) -> None:
    with TestClient(create_app(single_user_settings), client=("127.0.0.1", 50000), base_url=LOCAL) as local:
        assert local.get("/api/config").json()["auth_mode"] == "single_user"
        assert local.get("/api/notifications/policy").json()["user_id"] == "demo-user"
        created = local.post("/api/subscriptions", json={"ticker": "AAPL", "alert_window": "daily_close"})
        assert created.status_code == 201 and created.json()["user_id"] == "demo-user"
        assert local.get("/api/jobs").status_code == 200  # the person at the keyboard is the admin
        error(local.get("/api/subscriptions", headers={"Authorization": "Bearer stk_0_wrong"}), 401)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_single_user_mode_answers_loopback_clients(single_user_settings: Settings, host: str) -> None:
    with TestClient(create_app(single_user_settings), client=(host, 5000), base_url=LOCAL) as local:
        assert local.get("/api/notifications/policy").json()["user_id"] == "demo-user"


def test_single_user_mode_refuses_a_client_that_is_not_loopback(single_user_settings: Settings) -> None:
    app = create_app(single_user_settings)
    _, key = create_user(single_user_settings, "alice")
    with TestClient(app, client=("10.0.0.5", 1234), base_url=LOCAL) as remote:  # e.g. through a proxy
        error(remote.get("/api/subscriptions"), 401)
        assert remote.get("/healthz").status_code == 200
        # a real key still identifies its owner, wherever the request comes from
        keyed = remote.get("/api/notifications/policy", headers={"Authorization": f"Bearer {key}"})
        assert keyed.status_code == 200 and keyed.json()["user_id"] == "alice"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_single_user_mode_refuses_to_bind_beyond_loopback(make_settings: Callable[..., Settings], host: str) -> None:
    settings = make_settings(auth_mode="single_user", api_host=host)
    with pytest.raises(SettingsError, match="API_HOST"):
        require_loopback_for_single_user(settings)
    require_loopback_for_single_user(make_settings(auth_mode="api_key", api_host=host))  # keys: any host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_single_user_mode_binds_to_loopback(make_settings: Callable[..., Settings], host: str) -> None:
    require_loopback_for_single_user(make_settings(auth_mode="single_user", api_host=host))


# --- CORS ----------------------------------------------------------------------------------
PREFLIGHT = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}


def test_no_cross_origin_requests_by_default(client: TestClient, users: ApiUsers) -> None:
    origin = {"Origin": "http://localhost:3000"}
    preflight = client.options("/api/reports", headers={**origin, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/api/reports", headers={**origin, **users.alice})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_cors_allows_only_the_configured_origins(
    make_settings: Callable[..., Settings], pg_dsn: str, users: ApiUsers
) -> None:
    settings = make_settings(postgres_dsn=pg_dsn, auth_mode="api_key", api_cors_origins='["http://localhost:3000"]')
    assert settings.api_cors_origins == ["http://localhost:3000"]
    with TestClient(create_app(settings)) as cors:
        allowed = cors.options("/api/reports", headers={"Origin": "http://localhost:3000", **PREFLIGHT})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "GET" in allowed.headers["access-control-allow-methods"]

        refused = cors.options("/api/reports", headers={"Origin": "http://evil.example", **PREFLIGHT})
        assert refused.status_code >= 400 and "access-control-allow-origin" not in refused.headers

        ok = cors.get("/api/reports", headers={"Origin": "http://localhost:3000", **users.alice})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = cors.get("/api/reports", headers={"Origin": "http://evil.example", **users.alice})
        assert "access-control-allow-origin" not in other.headers

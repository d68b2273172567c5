"""`stockteacher users …`: keys are printed once, stored hashed, and work (or stop working)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stockteacher.api.app import create_app
from stockteacher.cli import main
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import ApiKey


@pytest.fixture
def env_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, make_settings: Any) -> Settings:
    dsn = f"sqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setenv("POSTGRES_DSN", dsn)
    monkeypatch.setenv("AUTH_MODE", "api_key")
    return make_settings(postgres_dsn=dsn, auth_mode="api_key")


def _create(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["users", "create", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_create_prints_a_key_once_and_stores_only_its_hash(env_settings: Settings, capsys: Any) -> None:
    created = _create(capsys, "Alice")
    assert created["user_id"] == "alice" and created["role"] == "user"
    key = created["api_key"]
    assert key.startswith("stk_") and len(key) > 40
    with session_scope(env_settings.dsn) as session:
        stored = session.execute(select(ApiKey)).scalars().one()
        assert stored.key_hash != key and len(stored.key_hash) == 64
        assert key not in {stored.key_id, stored.key_hash}
    with TestClient(create_app(env_settings)) as client:
        assert client.get("/api/subscriptions", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.get("/api/subscriptions", headers={"Authorization": f"Bearer {key}x"}).status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_admin_flag_duplicate_and_bad_names(env_settings: Settings, capsys: Any) -> None:
    admin = _create(capsys, "ops", "--admin")
    assert admin["role"] == "admin"
    assert main(["users", "create", "ops"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["users", "create", "no spaces please"]) == 2
    assert "user name" in capsys.readouterr().err
    with TestClient(create_app(env_settings)) as client:
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {admin['api_key']}"}).status_code == 200


def test_revoke_stops_every_key_and_add_key_makes_a_new_one(env_settings: Settings, capsys: Any) -> None:
    first = _create(capsys, "bob")["api_key"]
    assert main(["users", "add-key", "bob", "--json"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["api_key"]
    assert second != first
    with TestClient(create_app(env_settings)) as client:
        for key in (first, second):
            assert client.get("/api/subscriptions", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert main(["users", "revoke", "bob", "--json"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["revoked_keys"] == 2
        for key in (first, second):
            assert client.get("/api/subscriptions", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert main(["users", "add-key", "nobody"]) == 2
    assert main(["users", "list"]) == 0
    assert [u["user_id"] for u in json.loads(capsys.readouterr().out)] == ["bob"]


def test_the_key_never_reaches_the_log(env_settings: Settings, capsys: Any, caplog: pytest.LogCaptureFixture) -> None:
    key = _create(capsys, "carol")["api_key"]
    with TestClient(create_app(env_settings)) as client:
        client.get("/api/subscriptions", headers={"Authorization": f"Bearer {key}"})
    assert key not in caplog.text

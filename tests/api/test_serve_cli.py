"""`stockteacher serve`: the app on plain uvicorn, loopback-only in single-user mode, and its
access log never shows an API key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from stockteacher.accounts.service import create_user
from stockteacher.settings import Settings
from tests.net import free_port


def _env(dsn: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_DSN", "DATABASE_URL", "AUTH_MODE"))}
    env.update(POSTGRES_DSN=dsn, **extra)
    return env


def test_serve_answers_and_keeps_keys_out_of_the_access_log(tmp_path: Path, make_settings: Any) -> None:
    dsn = f"sqlite:///{tmp_path / 'serve.db'}"
    settings: Settings = make_settings(postgres_dsn=dsn, auth_mode="api_key")
    from stockteacher.store import migrate

    migrate.upgrade(dsn)
    _, key = create_user(settings, "alice")
    port = free_port()
    cli = Path(sys.executable).with_name("stockteacher")
    process = subprocess.Popen(
        [str(cli), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(dsn, AUTH_MODE="api_key"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(f"{base}/api/subscriptions", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert httpx.get(f"{base}/api/subscriptions", params={"access_token": key}).status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "/api/subscriptions" in output  # the access log is there …
    assert key not in output and "access_token=***" in output  # … with the key masked


def test_serve_refuses_single_user_mode_on_a_public_address(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("stockteacher")
    done = subprocess.run(
        [str(cli), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env=_env(f"sqlite:///{tmp_path / 'x.db'}", AUTH_MODE="single_user"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr and "AUTH_MODE=api_key" in done.stderr

"""The schemathesis CLI against the app on uvicorn, as a user would run it:
`schemathesis run http://127.0.0.1:PORT/openapi.json --checks all -H "Authorization: Bearer <key>"`.

`--checks all` is every check of the installed schemathesis (status codes, content types,
headers, body schemas, negative data rejected, positive data accepted, missing headers,
undeclared methods and `Allow`, authentication really enforced, use after free, resource
availability, object-level authorization) over all four phases: the schema's examples, coverage
(boundary and missing values, undeclared methods), fuzzing and stateful (the links it infers).
It runs once in API-key mode with a real key and once in single-user mode, whose document
declares no security requirement (no key is needed there).

Generation is deterministic, so a run sends the same requests every time.

Left out, with `--exclude-path`: setting a webhook or an Apprise channel (they send to the URL
they are given: fuzzing them would send requests to made-up hosts, or to the real chat
services; see tests/notify/test_notifier.py and tests/notify/test_apprise_channel.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.factories.api import ApiUsers
from tests.factories.settings import TEST_SECRET_KEY
from tests.net import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 15
EXCLUDED_PATHS = ("/api/notifications/channels/webhook", "/api/notifications/channels/apprise")


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_DSN", "DATABASE_URL", "AUTH_MODE"))}
    env.update(settings, ANALYSIS_PROVIDER="offline", SCHEMATHESIS_HOOKS="tests.api.schemathesis_hooks",
               SECRET_KEY=TEST_SECRET_KEY)  # fmt: skip
    return env


@contextmanager
def _serving(tmp_path: Path, **settings: str) -> Iterator[str]:
    """`stockteacher serve` (uvicorn) with these settings; its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "stockteacher"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(**settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "stockteacher serve did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _schemathesis(base_url: str, tmp_path: Path, *headers: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(BIN / "schemathesis"), "run", f"{base_url}/openapi.json", "--checks", "all",
        "--generation-deterministic", "--max-examples", str(MAX_EXAMPLES), "--workers", "2",
        "--no-color", "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    for path in EXCLUDED_PATHS:
        command += ["--exclude-path", path]
    for header in headers:
        command += ["-H", header]
    # The hooks module is imported by name, from the project's root; the run's cache stays in tmp_path.
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path, env=env)


def _assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.stdout + result.stderr)[-20000:]


def test_schemathesis_finds_nothing_with_a_key(pg_dsn: str, users: ApiUsers, tmp_path: Path) -> None:
    with _serving(tmp_path, POSTGRES_DSN=pg_dsn, AUTH_MODE="api_key") as base_url:
        result = _schemathesis(base_url, tmp_path, f"Authorization: {users.alice['Authorization']}")
    _assert_clean(result)


def test_schemathesis_finds_nothing_in_single_user_mode(pg_dsn: str, tmp_path: Path) -> None:
    with _serving(tmp_path, POSTGRES_DSN=pg_dsn, AUTH_MODE="single_user") as base_url:
        result = _schemathesis(base_url, tmp_path)
    _assert_clean(result)

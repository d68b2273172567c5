"""The web page's browser tests' shared parts: Debian chromium driven by Playwright, the app
under uvicorn on a free port, and where screenshots go."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stockteacher.settings import Settings
from tests.factories.services import REQUIRE_SERVICES

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "LAUNCH_ARGS",
    "browser_page",
    "require_chromium",
    "serve",
    "take_expected_failure",
]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (install Debian's `chromium` package)"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and STOCKTEACHER_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    import uvicorn

    from stockteacher.api.app import create_app

    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start", pytrace=False)
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _console_error(message: Any) -> str:
    """`console: <text>`, and ` @ <url>` when Chromium says where (a failed request's URL)."""
    where = (message.location or {}).get("url")
    return f"console: {message.text}" + (f" @ {where}" if where else "")


@contextmanager
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """A fresh chromium page and the list its console errors and uncaught exceptions go to."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: errors.append(_console_error(msg)) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            yield page, errors
        finally:
            browser.close()


def take_expected_failure(errors: list[str], status: int) -> None:
    """Chromium logs every 4xx answer as a console error; remove the one the test provoked."""
    prefix = f"console: Failed to load resource: the server responded with a status of {status}"
    matching = [e for e in errors if e.startswith(prefix)]
    assert len(matching) == 1, errors
    errors.remove(matching[0])

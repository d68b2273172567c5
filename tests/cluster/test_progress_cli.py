"""`stockteacher run-once` as a person runs it, on the session's local Ray: on a terminal the
progress lines are redrawn in place and end at N/N; `--json` prints the summary alone; the
workers' log events stay in their files unless `--verbose`."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("stockteacher")
TICKERS = "AAPL,TSLA,NVDA"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def run_once(ray_cluster: None, tmp_path: Path) -> list[str]:
    """The command line, joined to the session's Ray (as `--address` joins any cluster)."""
    import ray

    return [str(CLI), "run-once", "--tickers", TICKERS, "--source", "sample", "--address",
            ray.get_runtime_context().gcs_address]  # fmt: skip


def env_for(tmp_path: Path, name: str) -> dict[str, str]:
    env = dict(os.environ)  # PYTHONPATH included: the checkout under test
    env.update(
        POSTGRES_DSN=f"sqlite:///{tmp_path / f'{name}.db'}",
        INGESTION_REDIS_URL="redis://127.0.0.1:1/0",
        REDIS_SOCKET_TIMEOUT_SECONDS="0.2",
        LOCAL_STORAGE_ROOT=str(tmp_path / f"storage-{name}"),
        TERM="xterm-256color",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE=env.get("RAY_AUTH_MODE", "disabled"),
    )
    return env


def on_a_terminal(args: list[str], env: dict[str, str], *, timeout: float = 120) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (140 columns) and stdout on a pipe: (code, stdout,
    everything the terminal received)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    received = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    code = proc.wait(timeout=30)
    reader.join(timeout=30)
    return code, b"".join(out).decode(), received.decode(errors="replace")


def test_on_a_terminal_progress_is_redrawn_in_place_and_ends_at_n_of_n(run_once: list[str], tmp_path: Path) -> None:
    code, stdout, terminal = on_a_terminal(run_once, env_for(tmp_path, "tty"))
    assert code == 0, terminal[-3000:]
    assert json.loads(stdout)["published"] == 3
    assert "\x1b[1A" in terminal and "\x1b[2K" in terminal  # cursor up, erase line: redrawn
    text = ANSI.sub("", terminal).replace("\r", "\n")
    final = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "3/3 tickers" in final["collect"] and "articles stored" in final["collect"]
    assert "3/3 tickers · 3 new analyses" in final["analyze"]
    assert "3/3 analyses · 3 reports published" in final["publish"]
    assert "planned 0 · sent 0" in final["notify"]
    assert "worker logs: " in text and "/logs/worker-*.err" in text
    assert "collect.saved" not in text and "analyze.saved" not in text  # in the workers' files


def test_json_prints_the_summary_alone_and_no_progress(run_once: list[str], tmp_path: Path) -> None:
    done = subprocess.run([*run_once, "--json"], env=env_for(tmp_path, "json"), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["status"] == "ok"
    for shown in ("[collect]", "[analyze]", "tickers", "worker logs:", "collect.saved"):
        assert shown not in done.stderr


def test_verbose_streams_the_workers_logs_with_plain_progress_lines(run_once: list[str], tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run([*run_once, "--verbose"], env=env_for(tmp_path, "verbose"), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert "collect.saved" in done.stderr  # the workers' events, through the driver
    progress = [line for line in done.stderr.splitlines() if line.startswith("[collect]")]
    # Not a line per ticker: the stage's line when it ends, and at most one per 10 s before that.
    assert progress[-1].startswith("[collect] 3/3 tickers")
    assert all(not line.startswith("[collect] 3/3") for line in progress[:-1])
    assert len(progress) <= 1 + int(elapsed // 10)

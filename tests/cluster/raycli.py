"""Ray's own command line, driven the way an operator drives it, for the cluster tests.

A *node* here is a fresh machine as `cluster.yaml` leaves it: a home directory holding
`stockteacher-env` (the project's virtual environment: a link to the one running the tests)
and `stockteacher/.env` (the node's settings), and a shell with nothing activated
(`PATH=/usr/bin:/bin`). Nodes are started with `cluster.yaml`'s own start command lines; only
the ports change (6379 is Redis's here, and tests must not collide), and `--autoscaling-config`
is dropped (only `ray up` writes that file).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
BIN = VENV / "bin"
CLUSTER_YAML = ROOT / "cluster.yaml"


def make_node_home(home: Path, settings: dict[str, str]) -> Path:
    """A node's home as cluster.yaml sets it up: the venv and the checkout's `.env`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "stockteacher-env").symlink_to(VENV, target_is_directory=True)
    (home / "stockteacher").mkdir()
    (home / "stockteacher" / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return home


def node_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a shell on a fresh node: nothing activated."""
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
        **extra,
    }


def client_env(home: Path, dashboard: str, **extra: str) -> dict[str, str]:
    """The operator's shell: the venv on PATH (where `ray`, `serve` and `stockteacher` come
    from) and the addresses the README tells them to export."""
    return {
        **node_env(home),
        "PATH": f"{BIN}:/usr/bin:/bin",
        "RAY_ADDRESS": dashboard,
        "RAY_DASHBOARD_ADDRESS": dashboard,
        **extra,
    }


def start_command(kind: str, *, flags: list[str], ports: dict[str, int], head_address: str | None = None) -> str:
    """cluster.yaml's `head_start_ray_commands` / `worker_start_ray_commands` line, with free
    ports and `flags` appended."""
    commands = yaml.safe_load(CLUSTER_YAML.read_text())[f"{kind}_start_ray_commands"]
    (line,) = [c for c in commands if "ray start" in c]
    line = re.sub(r"\s*--autoscaling-config=\S+", "", line)
    for flag, port in ports.items():
        line, count = re.subn(rf"--{flag}=\d+", f"--{flag}={port}", line)
        if not count:
            line += f" --{flag}={port}"
    if head_address is not None:
        line = line.replace("$RAY_HEAD_IP:6379", head_address)
    return line + "".join(f" {shlex.quote(f)}" for f in flags)


def head_ports() -> dict[str, int]:
    return {
        "port": free_port(),
        "object-manager-port": free_port(),
        "metrics-export-port": free_port(),
        "dashboard-port": free_port(),
        "ray-client-server-port": free_port(),
        "dashboard-agent-listen-port": free_port(),
    }


def worker_ports() -> dict[str, int]:
    return {
        "object-manager-port": free_port(),
        "metrics-export-port": free_port(),
        "node-manager-port": free_port(),
        "dashboard-agent-listen-port": free_port(),
    }


def run(
    args: list[str], env: dict[str, str], *, timeout: float = 300, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def shell(line: str, env: dict[str, str], *, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def submit(env: dict[str, str], *job: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`ray job submit --working-dir . -- python jobs/…`, exactly as the README has it."""
    return run(["ray", "job", "submit", "--working-dir", ".", "--", "python", *job], env, timeout=timeout)


def last_json(text: str) -> dict[str, Any]:
    lines = [line for line in text.strip().splitlines() if line.startswith("{") and line.endswith("}")]
    assert lines, text[-3000:]
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout or "")[-4000:] + (result.stderr or "")[-4000:]

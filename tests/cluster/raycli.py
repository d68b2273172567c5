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


class Node:
    """A worker node of a `LocalCluster`: its resources, and its raylet found by its port."""

    def __init__(self, name: str, resources: dict[str, float], node_manager_port: int) -> None:
        self.name, self.resources, self.node_manager_port = name, resources, node_manager_port
        self.node_id: str | None = None
        self.dead = False

    def raylet(self) -> Any:
        import psutil

        flag = f"--node_manager_port={self.node_manager_port}"
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if cmdline and cmdline[0].endswith("/raylet") and flag in cmdline:
                return proc
        raise LookupError(f"no raylet for {self.name}")

    def processes(self) -> list[Any]:
        raylet = self.raylet()
        return [raylet, *raylet.children(recursive=True)]

    def ports_to(self, port: int) -> set[int]:
        """Local ports of this node's open TCP connections to `port` (e.g. the LLM server's)."""
        import psutil

        ports: set[int] = set()
        try:
            processes = self.processes()
        except LookupError:
            return ports
        for proc in processes:
            try:
                ports.update(c.laddr.port for c in proc.net_connections("tcp") if c.raddr and c.raddr.port == port)
            except psutil.NoSuchProcess:
                pass
        return ports

    def kill(self) -> None:
        """The way a node dies: SIGKILL to its raylet and everything under it."""
        import signal

        import psutil

        self.dead = True
        for proc in self.processes():
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


# Fast detection of a dead node (Ray's defaults take ~30 s): Ray config, not ours.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


class LocalCluster:
    """A head and worker nodes on this machine, each started with cluster.yaml's command line;
    this process joins it as a driver. `stop()` runs `ray stop` (every Ray on the machine)."""

    def __init__(self, home: Path, *, head_cpus: int = 2) -> None:
        import ray

        self.home = home
        ports = head_ports()
        started = shell(
            start_command("head", flags=[f"--num-cpus={head_cpus}"], ports=ports), node_env(home, **FAST_HEALTH_CHECKS)
        )
        assert started.returncode == 0, output(started)
        self.gcs = f"127.0.0.1:{ports['port']}"
        self.nodes: dict[str, Node] = {}
        ray.init(address=self.gcs, namespace="stockteacher", log_to_driver=False)

    def add_node(self, name: str, resources: dict[str, float], *, cpus: int = 2) -> Node:
        import time

        import ray

        wports = worker_ports()
        flags = [f"--num-cpus={cpus}", f"--resources={json.dumps(resources)}"]
        result = shell(start_command("worker", flags=flags, ports=wports, head_address=self.gcs), node_env(self.home))
        assert result.returncode == 0, output(result)
        node = Node(name, resources, wports["node-manager-port"])
        deadline = time.monotonic() + 60
        while node.node_id is None and time.monotonic() < deadline:
            for info in ray.nodes():
                if info["Alive"] and info["NodeManagerPort"] == node.node_manager_port:
                    node.node_id = info["NodeID"]
            time.sleep(0.5)
        assert node.node_id, f"{name} did not join"
        self.nodes[name] = node
        return node

    def node_of(self, node_id: str | None) -> str | None:
        """The worker node's name for a Ray node id (None: the head, or unknown)."""
        return next((n.name for n in self.nodes.values() if n.node_id == node_id), None)

    def stop(self) -> None:
        import ray

        ray.shutdown()
        run([str(self.home / "stockteacher-env" / "bin" / "ray"), "stop"], node_env(self.home), timeout=120)


def calls_cut_off(llm: Any, ports: set[int], killed_at: float) -> list[Any]:
    """The LLM requests a dead node had in flight: sent from one of its `ports` and not answered
    before `killed_at` (some reach the server only after the node died: they were on the wire)."""
    return [
        r for r in llm.chat_requests if r.client_port in ports and (llm.answered_at(r) or float("inf")) >= killed_at
    ]


def ticker_of(request: Any) -> str:
    """The ticker an analysis request is about (its prompt starts with `ticker: …`)."""
    prompt = "\n".join(m.get("content", "") for m in request.messages)
    return prompt.split("ticker: ", 1)[1].split()[0]


def slow_services_settings(
    dsn: str, tmp: Path, news_endpoint: str, news_key: str, llm_url: str, *, redis_db: int
) -> dict[str, str]:
    """A node's .env for sweeps against slow NewsAPI and OpenAI stand-ins (the node-loss test
    and benchmark): PostgreSQL, Redis, 2 analyzer replicas of 2 calls, 4 collectors in flight."""
    return {
        "POSTGRES_DSN": dsn,
        "INGESTION_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "LOCAL_STORAGE_ROOT": str(tmp / "storage"),
        "NEWS_API_KEY": news_key,
        "NEWS_API_ENDPOINT": news_endpoint,
        "PRICE_SOURCE": "off",  # prices would be Yahoo's: the internet
        "NEWS_API_LANG": "en",
        "NEWS_API_TIMEOUT_SECONDS": "30",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": llm_url,
        "ANALYSIS_REQUEST_TIMEOUT_SECONDS": "60",
        "ANALYZER_REPLICAS": "2",
        "ANALYZER_CONCURRENCY": "2",
        "SCHEDULER_MAX_IN_FLIGHT": "4",
        "SCHEDULER_TICK_SECONDS": "1",
        "COLLECTOR_MAX_RETRIES": "3",
        "DEFAULT_LOCALE": "en_US",
    }

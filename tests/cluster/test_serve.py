"""The Serve application for real, in the session's Ray: the FastAPI ingress behind Serve's
proxy, chat answered by the chat deployment through a DeploymentHandle (streamed), and
serve_config.yaml valid for `serve deploy`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from stockteacher.accounts.service import create_user
from stockteacher.settings import Settings, SettingsError
from tests.factories.reports import run_sample_pipeline
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_serve_config_is_valid_and_matches_the_code() -> None:
    from ray.serve.schema import ServeDeploySchema

    from stockteacher.api.serve import API_DEPLOYMENT, CHAT_DEPLOYMENT, build_app

    config = ServeDeploySchema.model_validate(yaml.safe_load((ROOT / "serve_config.yaml").read_text()))
    (app,) = config.applications
    assert app.import_path == "stockteacher.api.serve:build_app" and app.route_prefix == "/"
    module, _, name = app.import_path.partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is build_app
    deployments = {d.name: d for d in app.deployments}
    assert set(deployments) == {API_DEPLOYMENT, CHAT_DEPLOYMENT}
    for deployment in deployments.values():
        assert deployment.ray_actor_options.num_cpus <= 0.5  # fits a 2-CPU machine
        assert deployment.autoscaling_config["min_replicas"] >= 1
        assert deployment.health_check_period_s and deployment.health_check_timeout_s
    assert config.http_options.host == "127.0.0.1"  # single-user default: loopback only


def test_single_user_mode_refuses_a_public_address(make_settings: Any) -> None:
    from stockteacher.api.serve import build_application

    with pytest.raises(SettingsError, match="loopback"):
        build_application(make_settings(auth_mode="single_user", api_host="0.0.0.0"))
    build_application(make_settings(auth_mode="api_key", api_host="0.0.0.0"))  # keys: fine anywhere


def test_the_builder_takes_serve_configs_args_and_refuses_an_unmigrated_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, empty_pg: str
) -> None:
    """What `serve deploy` calls: `build_app(args)`, settings from the environment, `args` on top."""
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary

    from stockteacher.api.serve import build_app
    from stockteacher.store.health import DatabaseNotMigrated

    monkeypatch.setenv("POSTGRES_DSN", f"sqlite:///{tmp_path / 'serve.db'}")
    app = call_user_app_builder_with_args_if_necessary(build_app, {"AUTH_MODE": "api_key", "API_HOST": "0.0.0.0"})
    assert app is not None  # Serve's own check of the builder's signature passed
    with pytest.raises(SettingsError, match="loopback"):
        call_user_app_builder_with_args_if_necessary(build_app, {"API_HOST": "0.0.0.0"})
    monkeypatch.setenv("POSTGRES_DSN", empty_pg)
    with pytest.raises(DatabaseNotMigrated, match="run `stockteacher db upgrade`"):
        build_app({})


@pytest.fixture
def served(ray_cluster: None, make_settings: Any, pg_dsn: str, llm_server: Any) -> Iterator[dict[str, Any]]:
    from ray import serve

    from stockteacher.api.serve import build_application

    offline = make_settings(postgres_dsn=pg_dsn, analysis_provider="offline")
    ids = run_sample_pipeline(offline, ("AAPL",))
    settings: Settings = make_settings(
        postgres_dsn=pg_dsn,
        auth_mode="api_key",
        openai_api_key="test-key",
        openai_base_url=llm_server.base_url,
    )
    _, key = create_user(settings, "alice")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_application(settings), name="stockteacher", route_prefix="/", blocking=False)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    try:
        yield {"base": base, "headers": {"Authorization": f"Bearer {key}"}, "report": ids[0], "llm": llm_server}
    finally:
        serve.shutdown()


def _sse(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any], float]]:
    event = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event:
            yield event, json.loads(line.split(":", 1)[1]), time.monotonic()
            event = None


def test_api_and_streaming_chat_through_serve(served: dict[str, Any]) -> None:
    base, headers, llm = served["base"], served["headers"], served["llm"]
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/reports", headers={"Authorization": "Bearer nope"}).status_code == 401
        reports = client.get("/api/reports").json()
        assert [r["insight_id"] for r in reports] == [served["report"]]
        assert client.get(f"/api/reports/{served['report']}").json()["source_refs"]
        assert "StockTeacher" in client.get("/").text  # the web page, from the same app
        assert client.get("/openapi.json").json()["paths"]["/api/reports"]

        llm.default_content = "EPS는 주당순이익입니다 [1]. 이익이 늘면 EPS도 늘어납니다."
        llm.stream_chunk_size = 4
        llm.stream_chunk_delay = 0.05
        session = client.post("/api/chat/sessions", json={"insight_id": served["report"]})
        assert session.status_code == 201
        session_id = session.json()["session_id"]
        chunks: list[tuple[str, float]] = []
        done: dict[str, Any] = {}
        with client.stream(
            "POST",
            f"/api/chat/sessions/{session_id}/messages",
            json={"content": "EPS가 뭐예요?"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 201
            for event, data, at in _sse(response):
                if event == "chunk":
                    chunks.append((data["content"], at))
                elif event == "done":
                    done = {**data, "at": at}
        assert len(chunks) > 3
        assert chunks[0][1] < done["at"] - 0.2  # the first chunk came well before the end
        streamed = "".join(c for c, _ in chunks)
        messages = client.get(f"/api/chat/sessions/{session_id}/messages").json()
        agent = [m for m in messages if m["sender"] == "agent"]
        assert agent[-1]["content"] == streamed == llm.default_content
        assert agent[-1]["message_id"] == done["message_id"]
        prompt = json.dumps(llm.requests[-1].messages, ensure_ascii=False)
        assert "EPS가 뭐예요?" in prompt  # the question reached the model through the chat deployment


def test_the_health_check_fails_with_the_fix_when_the_database_is_not_migrated(
    make_settings: Any, empty_pg: str
) -> None:
    from stockteacher.api.serve import _check_database
    from stockteacher.store.health import DatabaseNotMigrated

    with pytest.raises(DatabaseNotMigrated, match="run `stockteacher db upgrade`"):
        _check_database(make_settings(postgres_dsn=empty_pg))

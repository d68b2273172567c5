"""Ray Serve application: a FastAPI ingress (`api`) and a chat deployment (`chat`).

The ingress builds the very same FastAPI app as `create_app` (at replica start, through
`__serve_build_asgi_app__`), and answers chat through a `DeploymentHandle` to the chat
deployment, streaming: a client that goes away cancels the handle's generator, which closes the
LLM stream in the chat replica.

`serve_config.yaml` points at `build_app` (Serve's one-parameter builder); `stockteacher demo`,
the tests and the benchmarks call `build_application(settings)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from stockteacher.settings import Settings, load_settings

__all__ = [
    "API_DEPLOYMENT",
    "CHAT_DEPLOYMENT",
    "ApiIngress",
    "ChatDeployment",
    "HandleChatBackend",
    "build_app",
    "build_application",
]

API_DEPLOYMENT = "api"
CHAT_DEPLOYMENT = "chat"


class HandleChatBackend:
    """`stream(request)` over a chat deployment handle (what the routes call in Serve)."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle.options(stream=True)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        events = self._handle.stream.remote(request)
        finished = False
        try:
            async for event in events:
                yield event
            finished = True
        finally:
            if not finished:
                events.cancel()  # the client left: stop the chat replica's LLM call


@serve.deployment(
    name=CHAT_DEPLOYMENT,
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=32,
    autoscaling_config={"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 8},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
class ChatDeployment:
    """Grounded chat answers, streamed as plain-dict events (see `stockteacher.chat.engine`)."""

    def __init__(self, settings: Settings) -> None:
        from stockteacher.chat.engine import ChatEngine
        from stockteacher.logs import configure_logging

        configure_logging(settings)
        self._settings = settings
        self._engine = ChatEngine(settings)

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async for event in self._engine.stream(request):
            _count(event, self._settings)
            yield event

    def check_health(self) -> None:
        _check_database(self._settings)


@serve.deployment(
    name=API_DEPLOYMENT,
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=64,
    autoscaling_config={"min_replicas": 2, "max_replicas": 4, "target_ongoing_requests": 16},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
@serve.ingress()
class ApiIngress:
    """The HTTP ingress: API.md routes, the web page and `/docs`."""

    def __init__(self, settings: Settings, chat: DeploymentHandle) -> None:
        from stockteacher.logs import configure_logging

        configure_logging(settings)
        self._settings = settings
        self._chat = chat

    def __serve_build_asgi_app__(self) -> Any:
        from stockteacher.api.app import create_app

        return create_app(self._settings, chat_backend=HandleChatBackend(self._chat))

    def check_health(self) -> None:
        _check_database(self._settings)


def _count(event: dict[str, Any], settings: Settings) -> None:
    """Chat's LLM calls in the same metrics as analysis's (`stage=chat`); offline answers and
    refusals before any call are not LLM calls."""
    from stockteacher.cluster import metrics

    if event.get("type") == "final" and not event.get("offline"):
        metrics.record_llm_call(
            "chat",
            "answered",
            str(event.get("model")),
            int(event.get("prompt_tokens") or 0),
            int(event.get("completion_tokens") or 0),
            float(event.get("cost_usd") or 0.0),
        )
    elif event.get("type") == "error" and event.get("code") == "llm_unavailable":
        metrics.inc("llm_calls", stage="chat", outcome="failed:llm_unavailable", model=settings.chat_model_name)


def _check_database(settings: Settings) -> None:
    """Serve restarts a replica whose health check raises: one that lost its database does, and
    `serve status` shows the one-line reason (unreachable, or not migrated)."""
    from stockteacher.store.health import check_database

    check_database(settings.dsn, fresh=True)


def build_app(args: dict[str, Any]) -> serve.Application:
    """The Serve application builder of `serve_config.yaml` (`import_path:
    stockteacher.api.serve:build_app`), as `serve deploy` / `serve run` call it: one parameter.

    `args` may override settings by variable name, e.g. `{"AUTH_MODE": "api_key"}`; everything
    else comes from the environment of the node that builds the app (`STOCKTEACHER_ENV_FILE`, as
    `cluster.yaml` starts Ray, or `.env`). The database must answer and be migrated: a deploy
    onto a database that is not fails with one line saying what to do.
    """
    overrides = {str(k): v for k, v in (args or {}).items()}
    return build_application(load_settings(**overrides))


def build_application(settings: Settings, *, api_replicas: int | None = None) -> serve.Application:
    """The Serve application for `settings` (the demo, tests and benchmarks call this).

    Replica CPUs come from `SERVE_API_NUM_CPUS` / `SERVE_CHAT_NUM_CPUS` unless the config sets
    `ray_actor_options` itself; `api_replicas` fixes the number of ingress replicas instead of
    autoscaling (benchmarks).
    """
    from stockteacher.api.auth import require_loopback_for_single_user
    from stockteacher.store import migrate
    from stockteacher.store.health import check_database

    settings = settings.for_workers()
    require_loopback_for_single_user(settings)
    migrate.upgrade_if_sqlite(settings.dsn)
    check_database(settings.dsn)
    chat = ChatDeployment.options(ray_actor_options={"num_cpus": settings.serve_chat_num_cpus}).bind(settings)
    api_options: dict[str, Any] = {"ray_actor_options": {"num_cpus": settings.serve_api_num_cpus}}
    if api_replicas:
        api_options.update(num_replicas=api_replicas, autoscaling_config=None)
    return ApiIngress.options(**api_options).bind(settings, chat)

"""The FastAPI application: API.md's routes, the web page at `/`, OpenAPI at `/docs`.

`create_app(settings)` builds it without Ray, for tests and plain uvicorn; the Serve ingress
(`stockteacher.api.serve`) wraps the same app and hands it a chat backend that calls the chat
deployment through a `DeploymentHandle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import stockteacher
from stockteacher.api.errors import ErrorOut, install_error_handlers, json_error_bodies
from stockteacher.api.security import SecurityMiddleware
from stockteacher.core.vocabulary import vocabulary
from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.store.db import get_engine

__all__ = ["create_app"]

log = get_logger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
# What any operation may answer: the key check, validation, and SecurityMiddleware's size limit.
ANSWERED_EVERYWHERE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid API key"},
    413: {"model": ErrorOut, "description": "the request body is over API_MAX_BODY_BYTES"},
    422: {"model": ErrorOut, "description": "the request is invalid; `detail` says how"},
}
# SecurityMiddleware in single-user mode (a request without a key); 403 only for changes.
SINGLE_USER_REFUSALS: dict[int | str, dict[str, Any]] = {
    421: {"model": ErrorOut, "description": "single-user mode answers loopback Host names only"},
}
FOREIGN_ORIGIN = {"description": "single-user mode: a change from another site's page (Origin)"}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def create_app(settings: Settings, *, chat_backend: Any = None) -> FastAPI:
    """The whole HTTP application. `chat_backend` answers chat (default: an in-process engine)."""
    from stockteacher.accounts.models import DEMO_USER
    from stockteacher.accounts.service import ensure_user
    from stockteacher.channels import views as channels
    from stockteacher.chat import views as chat
    from stockteacher.feeds import views as feeds
    from stockteacher.operations import views as operations
    from stockteacher.reports import views as reports
    from stockteacher.reports.service import ReportCache
    from stockteacher.subscriptions import views as subscriptions
    from stockteacher.tickers import views as tickers
    from stockteacher.track import views as track

    single_user = settings.auth_mode == "single_user"
    app = FastAPI(
        responses={**ANSWERED_EVERYWHERE, **(SINGLE_USER_REFUSALS if single_user else {})},
        title="StockTeacher API",
        version=getattr(stockteacher, "__version__", "0.1.0"),
        description="Sourced, beginner-friendly stock-news reports; subscriptions; chat with the teacher.",
    )
    app.state.settings = settings
    app.state.chat_backend = chat_backend
    app.state.report_cache = ReportCache(settings.api_cache_seconds, settings.api_favorites_cache_seconds)
    if settings.auth_mode == "single_user":
        ensure_user(settings.dsn, DEMO_USER, role="admin")

    # Innermost: cached report pages and reports, answered before routing (reports.views).
    app.add_middleware(reports.CachedReports, settings=settings, cache=app.state.report_cache)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
        )
    # Outermost: loopback names and origins in single-user mode, declared body sizes, security headers.
    app.add_middleware(
        SecurityMiddleware,
        single_user=single_user,
        max_body_bytes=settings.api_max_body_bytes,
    )

    install_error_handlers(app)
    _document_as_served(app, single_user=single_user, max_page_size=settings.api_max_page_size)

    @app.get("/healthz", tags=["probes"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["probes"], responses={503: {"description": "the database does not answer"}})
    def readyz() -> JSONResponse:
        try:
            with get_engine(settings.dsn).connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return JSONResponse({"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, 503)
        return JSONResponse({"status": "ready"})

    @app.get("/api/config", tags=["probes"])
    def config() -> dict[str, Any]:
        """What the web page needs before it can call anything else (no key needed), including
        the enums and thresholds it shows (`vocabulary`), so it never keeps copies of them, and
        the chat and push services an Apprise channel can use (`apprise_services`)."""
        from stockteacher.notify.apprise_channel import SERVICES

        return {
            "auth_mode": settings.auth_mode,
            "default_locale": settings.default_locale,
            "version": app.version,
            "chat_mode": "openai" if settings.chat_uses_openai else "offline",
            "vocabulary": vocabulary(),
            "apprise_services": [service.as_dict() for service in SERVICES],
        }

    for module in (subscriptions, tickers, track, reports, chat, channels, feeds, operations):
        app.include_router(module.router)

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _document_as_served(app: FastAPI, *, single_user: bool, max_page_size: int) -> None:
    """`/openapi.json` as this app answers: error bodies as JSON whatever the route sends when it
    succeeds, the page size of `/api/reports` this deployment allows (`API_MAX_PAGE_SIZE`), and,
    in single-user mode, no security requirement (no key is needed there) and the 403 for a
    change from another site's page."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            json_error_bodies(document)
            for parameter in document["paths"]["/api/reports"]["get"]["parameters"]:
                if parameter["name"] == "limit":
                    parameter["schema"]["maximum"] = max_page_size
            if single_user:
                document.get("components", {}).pop("securitySchemes", None)
                for item in document["paths"].values():
                    for method, operation in item.items():
                        operation.pop("security", None)
                        if method not in ("get", "head", "options"):
                            operation["responses"].setdefault("403", {**FOREIGN_ORIGIN, "content": ERROR_CONTENT})
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

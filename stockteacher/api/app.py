"""The FastAPI application: API.md's routes, the web page at `/`, OpenAPI at `/docs`.

`create_app(settings)` builds it without Ray, for tests and plain uvicorn; the Serve ingress
(`stockteacher.api.serve`) wraps the same app and hands it a chat backend that calls the chat
deployment through a `DeploymentHandle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

import stockteacher
from stockteacher.api.security import SecurityMiddleware
from stockteacher.core.vocabulary import vocabulary
from stockteacher.logs import get_logger, new_trace_id
from stockteacher.settings import Settings
from stockteacher.store.db import get_engine

__all__ = ["create_app", "validation_message"]

log = get_logger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


def validation_message(errors: list[Any]) -> str:
    """FastAPI's validation errors as one readable sentence: `body.ticker: String should …`."""
    parts = []
    for error in errors[:5]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            parts.append(f"body: not valid JSON ({reason})" if reason else "body: not valid JSON")
            continue
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "request"
        msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "invalid request"


def create_app(settings: Settings, *, chat_backend: Any = None) -> FastAPI:
    """The whole HTTP application. `chat_backend` answers chat (default: an in-process engine)."""
    from stockteacher.api.auth import DEMO_USER, ensure_user
    from stockteacher.api.routes import admin, chat, notifications, reports, subscriptions
    from stockteacher.api.schemas import ErrorOut

    app = FastAPI(
        responses={
            401: {"model": ErrorOut, "description": "missing or invalid API key"},
            422: {"model": ErrorOut, "description": "the request is invalid; `detail` says how"},
        },
        title="StockTeacher API",
        version=getattr(stockteacher, "__version__", "0.1.0"),
        description="Sourced, beginner-friendly stock-news reports; subscriptions; chat with the teacher.",
    )
    app.state.settings = settings
    app.state.chat_backend = chat_backend
    app.state.report_cache = reports.new_report_cache(settings.api_cache_seconds)
    if settings.auth_mode == "single_user":
        ensure_user(settings.dsn, DEMO_USER, role="admin")

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
        single_user=settings.auth_mode == "single_user",
        max_body_bytes=settings.api_max_body_bytes,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot decode (not UTF-8, say): a bad body is a 422
            return JSONResponse({"detail": "body: not valid UTF-8 JSON"}, status_code=422)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("api.db_unavailable", error=type(exc).__name__)
        return JSONResponse({"detail": "the database is not answering; try again shortly"}, status_code=503)

    @app.exception_handler(SQLAlchemyError)
    async def _db_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        trace_id = new_trace_id()
        log.error("api.db_error", error=type(exc).__name__, trace_id=trace_id)
        return JSONResponse({"detail": f"database error (trace_id {trace_id})"}, status_code=500)

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
        the enums and thresholds it shows (`vocabulary`), so it never keeps copies of them."""
        return {
            "auth_mode": settings.auth_mode,
            "default_locale": settings.default_locale,
            "version": app.version,
            "chat_mode": "openai" if settings.chat_uses_openai else "offline",
            "vocabulary": vocabulary(),
        }

    for module in (subscriptions, reports, chat, notifications, admin):
        app.include_router(module.router)

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app

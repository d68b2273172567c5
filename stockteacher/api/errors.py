"""One mapping from errors to HTTP answers, for every route.

Services raise `stockteacher.core.errors` (`NotFound` → 404, `Forbidden` → 403, `Conflict` →
409, `InvalidRequest` → 422); a database that does not answer is 503, a value it refuses
(`DataError`: a NUL character) 422, any other database error 500 with a trace id; FastAPI's
own validation errors become one readable `detail` sentence.
Every error body is `{"detail": str}` (`ErrorOut`; an error's `body()` may add fields, such as
the `candidates` of an ambiguous ticker name), and `documented()` says so in OpenAPI;
`json_error_bodies()` keeps it so for routes that answer something else (an HTML page) when
they succeed. A 405 lists in `Allow` every method of its path, not only one route's.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import get_route_path

from stockteacher.core.errors import Conflict, Forbidden, InvalidRequest, NotFound, SetupError, StockTeacherError
from stockteacher.core.fields import PATTERN_HINTS
from stockteacher.logs import get_logger, new_trace_id

__all__ = [
    "ErrorOut",
    "documented",
    "install_error_handlers",
    "json_error_bodies",
    "status_for",
    "validation_message",
]

log = get_logger(__name__)

STATUS_FOR: tuple[tuple[type[StockTeacherError], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidRequest, 422),
    (SetupError, 503),  # this server is not set up for it (SECRET_KEY missing): an operator's fix
)


class ErrorOut(BaseModel):
    detail: str


def documented(
    status: int, description: str, model: type[ErrorOut] = ErrorOut
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer `status` with an `ErrorOut` (or a richer one)."""
    return {status: {"model": model, "description": description}}


def json_error_bodies(document: dict[str, Any]) -> None:
    """Error answers under `application/json` in every operation of an OpenAPI document.

    FastAPI files `responses=` under the route's own media type, so the e-mail link's 404
    (an `ErrorOut`, sent as JSON) was documented as `text/html`.
    """
    for operation in (op for item in document.get("paths", {}).values() for op in item.values()):
        for status, response in operation.get("responses", {}).items():
            content = response.get("content", {})
            if not str(status).startswith(("4", "5")) or "application/json" in content:
                continue
            schemas = [media["schema"] for media in content.values() if "schema" in media]
            if schemas:
                response["content"] = {"application/json": {"schema": schemas[0]}}


_PARTS = re.compile(r"(\{[^/{}]+\})")
_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})


def allowed_methods(request: Request) -> str | None:
    """Every method the app's OpenAPI document lists for this path (and HEAD with GET), or None
    for a path it does not describe. Starlette's own 405 names one route's methods only, and
    FastAPI's included routers keep their routes out of `app.routes`' reach."""
    path = get_route_path(request.scope)  # without a root path (Serve mounts the app under one)
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in _PARTS.split(template))
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in item if method.upper() in _METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods)) or None


def status_for(error: StockTeacherError) -> int:
    for cls, status in STATUS_FOR:
        if isinstance(error, cls):
            return status
    return 500


def validation_message(errors: list[Any]) -> str:
    """FastAPI's validation errors as one readable sentence: `body.ticker: String should …`."""
    parts = []
    for error in errors[:5]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            parts.append(f"body: not valid JSON ({reason})" if reason else "body: not valid JSON")
            continue
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "request"
        hint = PATTERN_HINTS.get((error.get("ctx") or {}).get("pattern", ""))
        msg = hint or str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StockTeacherError)
    async def _refused(_request: Request, exc: StockTeacherError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            trace_id = new_trace_id()
            log.error("api.error", error=type(exc).__name__, trace_id=trace_id)
            return JSONResponse({"detail": f"internal error (trace_id {trace_id})"}, status_code=500)
        return JSONResponse({"detail": str(exc), **exc.body()}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot decode (not UTF-8, say): a bad body is a 422
            return JSONResponse({"detail": "body: not valid UTF-8 JSON"}, status_code=422)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(OperationalError)
    async def _db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("api.db_unavailable", error=type(exc).__name__)
        return JSONResponse({"detail": "the database is not answering; try again shortly"}, status_code=503)

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (a NUL character in a filter, say): the request's fault, not ours.
        log.info("api.db_data_error", error=type(exc.orig).__name__)
        detail = "a value in the request cannot be stored or searched for (a NUL character?)"
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(SQLAlchemyError)
    async def _db_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        trace_id = new_trace_id()
        log.error("api.db_error", error=type(exc).__name__, trace_id=trace_id)
        return JSONResponse({"detail": f"database error (trace_id {trace_id})"}, status_code=500)

"""Scripted fake HTTP endpoints on top of pytest-httpserver's real werkzeug server.

A `ScriptedEndpoint` registers one handler for one path on an `httpserver`, answers with the
real protocol of the service it fakes (`serve`, implemented by subclasses), records every
request it receives and can be told to misbehave for the next N requests: answer with a given
status, JSON or raw body and headers, or stall (`delay`) before answering, e.g. to provoke a
client timeout. Stalls end early when `close()` is called, so no handler thread outlives its test.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.datastructures import Headers, MultiDict

__all__ = ["Misbehaviour", "RecordedRequest", "ScriptedEndpoint", "json_response"]


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw of one request, and when (`time.monotonic()` at arrival)."""

    method: str
    path: str
    query_string: str
    url: str
    args: MultiDict[str, str]
    headers: Headers
    at: float

    def arg(self, name: str) -> str | None:
        return self.args.get(name)


@dataclass(frozen=True)
class Misbehaviour:
    """One scripted answer. `status=None` means: after `delay`, answer normally."""

    status: int | None = None
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


class ScriptedEndpoint:
    """One GET endpoint with a request log and a script of misbehaviours."""

    path: str = "/"

    def __init__(self, httpserver: HTTPServer, path: str | None = None) -> None:
        self.httpserver = httpserver
        if path is not None:
            self.path = path
        self.requests: list[RecordedRequest] = []
        self._script: deque[Misbehaviour] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        httpserver.expect_request(self.path, method="GET").respond_with_handler(self._handle)

    # --- what tests use -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.httpserver.url_for(self.path)

    def fail_next(
        self,
        times: int = 1,
        *,
        status: int | None = 500,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` requests this way instead of normally."""
        item = Misbehaviour(
            status=status, json=json, body=body, headers=dict(headers or {}), content_type=content_type, delay=delay
        )
        with self._lock:
            self._script.extend([item] * times)

    def stall_next(self, times: int, seconds: float) -> None:
        """Wait `seconds` before answering (normally) the next `times` requests."""
        self.fail_next(times, status=None, delay=seconds)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests, as the server saw them arrive."""
        with self._lock:
            times = [r.at for r in self.requests]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def close(self) -> None:
        """Cut every pending stall short (called at the end of each test)."""
        self._released.set()

    # --- protocol -----------------------------------------------------------------------------
    def serve(self, request: Request) -> Response:  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def _handle(self, request: Request) -> Response:
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query_string=request.query_string.decode("latin-1"),
            url=request.url,
            args=MultiDict(request.args),
            headers=Headers(request.headers),
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(record)
            action = self._script.popleft() if self._script else None
        if action is None:
            return self.serve(request)
        if action.delay:
            self._released.wait(action.delay)
        if action.status is None:
            return self.serve(request)
        if action.json is not None:
            response = json_response(action.json, action.status, action.headers)
        else:
            response = Response(
                action.body or b"",
                status=action.status,
                headers=action.headers,
                content_type=action.content_type or "text/plain; charset=utf-8",
            )
        if action.content_type:
            response.headers["Content-Type"] = action.content_type
        return response

"""HTTP hardening for every route, as one pure ASGI middleware (HTTP and WebSocket).

- **Request bodies are bounded** (`API_MAX_BODY_BYTES`): a declared `Content-Length` over the
  limit is refused before anything reads the body, and a chunked body is cut off when it grows
  past it (`BodyTooLarge`: the same 413 `{"detail"}`). Not FastAPI's own
  `max_body_size`: it answers a declared size in plain text, outside the API's error shape.

- **Single-user mode trusts loopback only, by name too.** Its requests carry no key, so a web
  page the user visits must not be able to drive the API by rebinding its own domain to
  127.0.0.1 (DNS rebinding): the `Host` header of a keyless request must be a loopback name
  (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`), else 421; a keyless WebSocket handshake
  or state-changing request whose `Origin` is not a loopback origin is refused with 403 (a
  WebSocket is never covered by CORS). A request with a key is its owner's, wherever it comes
  from.
- **Security headers on every response**: a Content-Security-Policy that allows only this
  origin's scripts and styles and forbids framing (`frame-ancestors 'none'`; `/docs` may load
  Swagger UI from its CDN), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
  `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

__all__ = ["BodyTooLarge", "SecurityMiddleware", "is_loopback_host"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Swagger UI and ReDoc come from jsDelivr and start with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


def is_loopback_host(host: str) -> bool:
    """A loopback name or address, with or without a port: `localhost:8000`, `[::1]`, ..."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in ("localhost",) or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _loopback_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and is_loopback_host(parts.netloc)


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, single_user: bool, max_body_bytes: int) -> None:
        self.app = app
        self.single_user = single_user
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, detail = refusal
            if scope["type"] == "websocket":
                await send({"type": "websocket.http.response.start", "status": status, "headers": _json_headers()})
                await send({"type": "websocket.http.response.body", "body": _body(detail)})
                return
            await _respond(send, status, detail, path=scope.get("path", ""))
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._bounded(receive), _with_headers(send, scope.get("path", "")))

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        keyed = "authorization" in headers or b"access_token=" in scope.get("query_string", b"")
        if self.single_user and not keyed:  # a request with a key is checked as the key's owner
            host = headers.get("host", "")
            if not is_loopback_host(host):
                return 421, f"single-user mode answers loopback names only; Host {host[:100]!r} is not one"
            origin = headers.get("origin")
            unsafe = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
            if origin is not None and unsafe and not _loopback_origin(origin):
                return 403, f"single-user mode accepts requests from this machine's pages only, not {origin[:100]!r}"
        length = headers.get("content-length", "0")
        if not length.isdigit():
            return 400, "Content-Length is not a number"
        if int(length) > self.max_body_bytes:
            return 413, f"request body too large ({length} bytes; the limit is {self.max_body_bytes})"
        return None

    def _bounded(self, receive: Receive) -> Receive:
        limit, seen = self.max_body_bytes, 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return bounded


class BodyTooLarge(HTTPException):
    """A chunked body grew past the limit while the app read it: 413 through the app's usual
    HTTP-error handler (an HTTPException, so FastAPI's body parser lets it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (the limit is {limit} bytes)")


def _json_headers() -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json")]


def _body(detail: str) -> bytes:
    return json.dumps({"detail": detail}).encode()


def _security_headers(path: str) -> list[tuple[bytes, bytes]]:
    csp = DOCS_CSP if path.startswith(DOCS_PATHS) else CSP
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]


def _with_headers(send: Send, path: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in _security_headers(path) if k not in names]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return sending


async def _respond(send: Send, status: int, detail: str, *, path: str) -> None:
    body = _body(detail)
    headers = [*_json_headers(), (b"content-length", str(len(body)).encode()), *_security_headers(path)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

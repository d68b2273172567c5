"""What the local chat-service stand-ins share (`telegram`, `slack`, `discord`, `ntfy`, `line`,
`kakao`): a threaded werkzeug server on 127.0.0.1 that records every request (method, path,
query, headers, raw and parsed body), can be scripted to answer the next requests with a status
and body (e.g. 503 while "down", a service's own 429), and lists the messages it accepted.

    with TelegramServer(token="123:abc") as telegram:
        telegram.fail_next(1, status=503)
        ...
        assert telegram.messages == [...]

`origin` is what `apprise_host_overrides` points the service's host at.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug import Request, Response
from werkzeug.datastructures import Headers

from tests.servers.threaded import ThreadedServer

__all__ = ["ChatRequest", "ChatServer", "Message", "json_answer"]


@dataclass
class ChatRequest:
    """One request as the stand-in saw it; `answered` is the status it was given."""

    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    answered: int = 0

    @property
    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def data(self) -> dict[str, Any]:
        """The body parsed as JSON, or as a form, whichever it is ({} otherwise)."""
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type or self.body[:1] in (b"{", b"["):
            try:
                parsed = self.json()
            except ValueError:
                return {}
            return parsed if isinstance(parsed, dict) else {"items": parsed}
        return self.form


@dataclass(frozen=True)
class Message:
    """A message the service accepted: where it went, its title (if the service has one) and text."""

    to: str
    text: str
    title: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any = None  # dict/list: JSON; str: text
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


class ChatServer(ThreadedServer):
    """Subclasses implement `_serve(request, record)`, answering as the real service does, and
    call `_accept(message)` for what they took."""

    thread_name = "chat-stand-in"

    def __init__(self) -> None:
        self._requests: list[ChatRequest] = []
        self._messages: list[Message] = []
        self._script: deque[_Answer] = deque()
        self._lock = threading.Lock()
        super().__init__()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ----------------------------------------------------------------------------
    def fail_next(
        self, times: int = 1, *, status: int = 503, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `times` requests with `status` and `body` (JSON when a dict)."""
        with self._lock:
            self._script.extend([_Answer(status, body, dict(headers or {}))] * times)

    # --- what tests read ----------------------------------------------------------------------
    @property
    def requests(self) -> list[ChatRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    def _accept(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)

    # --- protocol -----------------------------------------------------------------------------
    def _serve(self, request: Request, record: ChatRequest) -> Response:
        raise NotImplementedError

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        record = ChatRequest(
            at=time.monotonic(),
            method=request.method,
            path=request.path,
            query={key: request.args.getlist(key) for key in request.args},
            headers=Headers(request.headers),
            body=request.get_data(cache=True),
        )
        with self._lock:
            self._requests.append(record)
            action = self._script.popleft() if self._script else None
        if action is not None:
            if isinstance(action.body, (dict, list)):
                response = json_answer(action.body, action.status, action.headers)
            else:
                response = Response(
                    action.body or "", status=action.status, headers=action.headers, content_type="text/plain"
                )
        else:
            response = self._serve(request, record)
        record.answered = response.status_code
        return response(environ, start_response)

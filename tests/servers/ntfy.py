"""A local ntfy server (https://docs.ntfy.sh/publish/): `POST /` with JSON `{"topic", "message",
"title", ...}` or `POST`/`PUT /<topic>` with the message as the body and `X-Title` etc. headers
answers 200 with the message as JSON (`{"id", "time", "event": "message", "topic", ...}`). With
`users` set, publishing needs Basic auth (401 `{"code": 40101, ...}` otherwise). Self-hosted, so
a test's URL is `ntfy://127.0.0.1:<port>/<topic>` (private hosts allowed)."""

from __future__ import annotations

import base64
import time
from itertools import count

from werkzeug import Request, Response

from tests.servers.chat import ChatRequest, ChatServer, Message, json_answer

__all__ = ["NtfyServer"]

_UNAUTHORIZED = {
    "code": 40101,
    "http": 401,
    "error": "unauthorized",
    "link": "https://ntfy.sh/docs/publish/#authentication",
}


class NtfyServer(ChatServer):
    thread_name = "ntfy-stand-in"

    def __init__(self, *, users: dict[str, str] | None = None) -> None:
        self.users = users
        self._ids = count(1)
        super().__init__()

    def url(self, topic: str = "stocks", *, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"ntfy://{auth}127.0.0.1:{self.port}/{topic}"

    def _authorized(self, request: Request) -> bool:
        if self.users is None:
            return True
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode("utf-8", "replace").partition(":")
        return self.users.get(user) == password

    def _serve(self, request: Request, record: ChatRequest) -> Response:
        if request.method not in ("POST", "PUT"):
            return json_answer({"code": 40401, "http": 404, "error": "page not found"}, 404)
        if not self._authorized(request):
            return json_answer(_UNAUTHORIZED, 401)
        path_topic = request.path.strip("/")
        if path_topic:
            topic, text = path_topic, record.body.decode("utf-8", "replace")
            title = request.headers.get("X-Title") or request.headers.get("Title") or ""
            raw = {"topic": topic, "message": text, "title": title}
        else:
            raw = record.data
            topic, text, title = str(raw.get("topic") or ""), str(raw.get("message") or ""), str(raw.get("title") or "")
        if not topic:
            return json_answer({"code": 40009, "http": 400, "error": "invalid request: topic invalid"}, 400)
        self._accept(Message(to=topic, text=text, title=title, raw=dict(raw)))
        message = {"id": f"m{next(self._ids)}", "time": int(time.time()), "event": "message", "topic": topic}
        return json_answer({**message, "title": title, "message": text})

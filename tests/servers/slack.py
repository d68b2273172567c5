"""Local Slack incoming webhooks (https://api.slack.com/messaging/webhooks):
`POST /services/<T…>/<B…>/<secret>` with a JSON message answers 200 `ok`; an unknown webhook 404
`no_service`, a revoked secret for a known one 403 `invalid_token`, Slack's own answers. Script a
429 (`rate_limit_next`, with `Retry-After`) or 5xx with `fail_next`. `messages` has the text
a reader sees (top-level `text`, attachment titles and texts, section blocks)."""

from __future__ import annotations

from typing import Any

from werkzeug import Request, Response

from tests.servers.chat import ChatRequest, ChatServer, Message

__all__ = ["HOOK", "SlackServer"]

HOOK = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ")


def _text(payload: dict[str, Any]) -> tuple[str, str]:
    title, parts = "", []
    if payload.get("text"):
        parts.append(str(payload["text"]))
    for attachment in payload.get("attachments") or []:
        title = title or str(attachment.get("title") or "")
        parts += [str(attachment[k]) for k in ("title", "text", "fallback") if attachment.get(k) and k != "fallback"]
    for block in payload.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            parts.append(str(text["text"]))
    return title, "\n".join(parts)


class SlackServer(ChatServer):
    thread_name = "slack-stand-in"
    host = "hooks.slack.com"

    def __init__(self, *, hook: tuple[str, str, str] = HOOK) -> None:
        self.hook = hook
        super().__init__()

    def url(self, hook: tuple[str, str, str] | None = None, channel: str | None = None) -> str:
        a, b, c = hook or self.hook
        return f"slack://{a}/{b}/{c}" + (f"/#{channel}" if channel else "")

    def rate_limit_next(self, times: int = 1, *, retry_after: int = 30) -> None:
        self.fail_next(times, status=429, body="rate_limited", headers={"Retry-After": str(retry_after)})

    def _serve(self, request: Request, record: ChatRequest) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 4 or parts[0] != "services":
            return Response("no_service", status=404, content_type="text/plain")
        if tuple(parts[1:3]) != self.hook[:2]:
            return Response("no_service", status=404, content_type="text/plain")
        if parts[3] != self.hook[2]:
            return Response("invalid_token", status=403, content_type="text/plain")
        payload = record.data
        title, text = _text(payload)
        if not text:
            return Response("no_text", status=400, content_type="text/plain")
        self._accept(Message(to=str(payload.get("channel") or "default"), text=text, title=title, raw=payload))
        return Response("ok", status=200, content_type="text/plain")

"""Local Discord webhooks (https://discord.com/developers/docs/resources/webhook#execute-webhook):
`POST /api/webhooks/<id>/<token>` with a JSON message answers 204, or 200 with the message as
JSON when `?wait=true`; an unknown webhook or token gets Discord's 401/404 `{"message": "Unknown
Webhook", "code": 10015}`. `rate_limit_next()` scripts Discord's 429 JSON with `retry_after`.
`messages` has what a reader sees (content, embed titles and descriptions)."""

from __future__ import annotations

from itertools import count
from typing import Any

from werkzeug import Request, Response

from tests.servers.chat import ChatRequest, ChatServer, Message, json_answer

__all__ = ["WEBHOOK_ID", "WEBHOOK_TOKEN", "DiscordServer"]

WEBHOOK_ID = "4174216298"
WEBHOOK_TOKEN = "JHMHI8qBe7bk2ZwO5U711o3dV_js"
_UNKNOWN = {"message": "Unknown Webhook", "code": 10015}


def _text(payload: dict[str, Any]) -> tuple[str, str]:
    title, parts = "", []
    if payload.get("content"):
        parts.append(str(payload["content"]))
    for embed in payload.get("embeds") or []:
        title = title or str(embed.get("title") or "")
        parts += [str(embed[k]) for k in ("title", "description") if embed.get(k)]
    return title, "\n".join(parts)


class DiscordServer(ChatServer):
    thread_name = "discord-stand-in"
    host = "discord.com"

    def __init__(self, *, webhook_id: str = WEBHOOK_ID, token: str = WEBHOOK_TOKEN) -> None:
        self.webhook_id = webhook_id
        self.token = token
        self._ids = count(1_000_000_000_000_000)
        super().__init__()

    def url(self, *, token: str | None = None) -> str:
        return f"discord://{self.webhook_id}/{token or self.token}"

    def rate_limit_next(self, times: int = 1, *, retry_after: float = 1.5) -> None:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        self.fail_next(times, status=429, body=body, headers={"Retry-After": str(int(retry_after + 0.999))})

    def _serve(self, request: Request, record: ChatRequest) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 4 or parts[:2] != ["api", "webhooks"]:
            return json_answer({"message": "404: Not Found", "code": 0}, 404)
        if parts[2] != self.webhook_id:
            return json_answer(_UNKNOWN, 404)
        if parts[3] != self.token:
            return json_answer({"message": "Invalid Webhook Token", "code": 50027}, 401)
        payload = record.data
        title, text = _text(payload)
        if not text:
            return json_answer({"message": "Cannot send an empty message", "code": 50006}, 400)
        self._accept(Message(to=self.webhook_id, text=text, title=title, raw=payload))
        if request.args.get("wait", "").lower() == "true":
            return json_answer({"id": str(next(self._ids)), "channel_id": "1", **payload})
        return Response(status=204)

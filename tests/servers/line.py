"""The LINE Messaging API's push endpoint (https://developers.line.biz/en/reference/messaging-api/#send-push-message):
`POST /v2/bot/message/push` with `Authorization: Bearer <channel access token>` and JSON
`{"to": <user id>, "messages": [{"type": "text", "text": ...}]}` answers 200
`{"sentMessages": [{"id", "quoteToken"}]}`; a wrong token gets LINE's 401."""

from __future__ import annotations

from itertools import count

from werkzeug import Request, Response

from tests.servers.chat import ChatRequest, ChatServer, Message, json_answer

__all__ = ["TOKEN", "USER", "LineServer"]

TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789"
USER = "U0123456789abcdef0123456789abcdef"
_BAD_TOKEN = {"message": "Authentication failed. Confirm that the access token in the authorization header is valid."}


class LineServer(ChatServer):
    thread_name = "line-stand-in"
    host = "api.line.me"

    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self._ids = count(100)
        super().__init__()

    def url(self, user: str = USER, *, token: str | None = None) -> str:
        return f"line://{token or self.token}/{user}"

    def _serve(self, request: Request, record: ChatRequest) -> Response:
        if request.method != "POST" or request.path != "/v2/bot/message/push":
            return json_answer({"message": "Not found"}, 404)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_answer(_BAD_TOKEN, 401)
        payload = record.data
        texts = [str(m.get("text")) for m in payload.get("messages") or [] if m.get("type") == "text" and m.get("text")]
        if not payload.get("to") or not texts:
            return json_answer({"message": "The request body has 1 error(s)"}, 400)
        for text in texts:
            self._accept(Message(to=str(payload["to"]), text=text, raw=payload))
        return json_answer({"sentMessages": [{"id": str(next(self._ids)), "quoteToken": "q"} for _ in texts]})

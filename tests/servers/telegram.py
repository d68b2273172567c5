"""A local Telegram Bot API (https://core.telegram.org/bots/api): `POST /bot<token>/<method>`.

`sendMessage` (JSON or form) answers `{"ok": true, "result": {"message_id", "chat", "text"}}`
for the known token; any other token gets Telegram's 401 `{"ok": false, "error_code": 401,
"description": "Unauthorized"}`. `getMe` and `getUpdates` answer too (Apprise calls them when a
URL has no chat id). `rate_limit_next()` scripts Telegram's own 429 with `retry_after`;
`fail_next()` any other status. `messages` holds what a reader would see (HTML mode unescaped).
"""

from __future__ import annotations

import html
import re
from itertools import count

from werkzeug import Request, Response

from tests.servers.chat import ChatRequest, ChatServer, Message, json_answer

__all__ = ["TOKEN", "TelegramServer"]

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_TAG = re.compile(r"<[^>]+>")


class TelegramServer(ChatServer):
    thread_name = "telegram-stand-in"
    host = "api.telegram.org"

    def __init__(self, *, token: str = TOKEN, owner_chat_id: int = 987654321) -> None:
        self.token = token
        self.owner_chat_id = owner_chat_id
        self._ids = count(1)
        super().__init__()

    def url(self, chat_id: int | str = 987654321, *, token: str | None = None) -> str:
        """The Apprise URL of a chat through this bot."""
        return f"tgram://{token or self.token}/{chat_id}"

    def rate_limit_next(self, times: int = 1, *, retry_after: int = 3) -> None:
        self.fail_next(
            times,
            status=429,
            body={
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def _serve(self, request: Request, record: ChatRequest) -> Response:
        match = _PATH.match(request.path)
        if request.method not in ("GET", "POST") or not match:
            return json_answer({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        if match["token"] != self.token:
            return json_answer({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        method, data = match["method"], record.data
        if method == "getMe":
            bot = {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "StockTeacher"}
            return json_answer({"ok": True, "result": {**bot, "username": "stockteacher_bot"}})
        if method == "getUpdates":
            chat = {"id": self.owner_chat_id, "type": "private"}
            update = {"update_id": 1, "message": {"message_id": 1, "chat": chat, "from": chat, "text": "/start"}}
            return json_answer({"ok": True, "result": [update]})
        if method != "sendMessage":
            return json_answer({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        text, chat_id = data.get("text"), data.get("chat_id")
        if not text or chat_id in (None, ""):
            missing = "message text is empty" if not text else "chat not found"
            return json_answer({"ok": False, "error_code": 400, "description": f"Bad Request: {missing}"}, 400)
        shown = html.unescape(_TAG.sub("", text)) if data.get("parse_mode") == "HTML" else text
        self._accept(Message(to=str(chat_id), text=shown, raw=dict(data)))
        result = {"message_id": next(self._ids), "chat": {"id": chat_id, "type": "private"}, "text": shown}
        return json_answer({"ok": True, "result": result})

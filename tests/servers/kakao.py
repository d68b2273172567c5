"""KakaoTalk's OAuth token and "send to me" APIs (https://developers.kakao.com/docs/latest/en/message/rest-api):
`POST /oauth/token` (form `grant_type=refresh_token`, `client_id`, `refresh_token`) answers an
access token, an unknown refresh token Kakao's 400 `invalid_grant` (KOE322);
`POST /v2/api/talk/memo/default/send` (Bearer access token, form `template_object` JSON) answers
`{"result_code": 0}`, a wrong access token 401 `{"code": -401}`. Both hosts
(kauth.kakao.com, kapi.kakao.com) point at this one server."""

from __future__ import annotations

import json
import secrets

from werkzeug import Request, Response

from tests.servers.chat import ChatRequest, ChatServer, Message, json_answer

__all__ = ["CLIENT_ID", "REFRESH_TOKEN", "KakaoServer"]

CLIENT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
REFRESH_TOKEN = "s3cRetRefreshT0kenForKakaoTests"


class KakaoServer(ChatServer):
    thread_name = "kakao-stand-in"
    hosts = ("kauth.kakao.com", "kapi.kakao.com")

    def __init__(self, *, client_id: str = CLIENT_ID, refresh_token: str = REFRESH_TOKEN) -> None:
        self.client_id = client_id
        self.refresh_token = refresh_token
        self.access_tokens: list[str] = []
        super().__init__()

    @property
    def overrides(self) -> dict[str, str]:
        return {host: self.origin for host in self.hosts}

    def url(self, *, refresh_token: str | None = None) -> str:
        return f"kakaotalk://{self.client_id}/{refresh_token or self.refresh_token}"

    def _serve(self, request: Request, record: ChatRequest) -> Response:
        data = record.data
        if request.method == "POST" and request.path == "/oauth/token":
            if data.get("client_id") != self.client_id or data.get("refresh_token") != self.refresh_token:
                error = {
                    "error": "invalid_grant",
                    "error_description": "refresh_token not found",
                    "error_code": "KOE322",
                }
                return json_answer(error, 400)
            token = secrets.token_urlsafe(24)
            self.access_tokens.append(token)
            return json_answer({"access_token": token, "token_type": "bearer", "expires_in": 21599})
        if request.method == "POST" and request.path == "/v2/api/talk/memo/default/send":
            if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.access_tokens:
                return json_answer({"msg": "this access token does not exist", "code": -401}, 401)
            try:
                template = json.loads(data.get("template_object") or "")
            except ValueError:
                return json_answer({"msg": "template_object is not JSON", "code": -2}, 400)
            text = str(template.get("text") or "")
            if not text:
                return json_answer({"msg": "text is required", "code": -2}, 400)
            self._accept(Message(to="me", text=text, raw=template))
            return json_answer({"result_code": 0})
        return json_answer({"msg": "not found", "code": -404}, 404)

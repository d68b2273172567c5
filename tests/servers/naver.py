"""A fake Naver News search API (`/v1/search/news.json`) with the real service's wire semantics.

- `X-Naver-Client-Id` / `X-Naver-Client-Secret` must match: otherwise 401 `024`;
- `query` is required (400 `SE01`), `display` 1-100 (`SE02`), `start` 1-1000 (`SE03`),
  `sort` sim|date (`SE04`);
- answers are `{"lastBuildDate", "total", "start", "display", "items": [...]}` where `display`
  is the number of items actually returned; items carry `<b>` highlights and HTML entities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.servers.base import ScriptedEndpoint, json_response

__all__ = ["FakeNaver", "error_body", "make_item", "make_items"]

LAST_BUILD = "Mon, 23 Nov 2026 10:00:00 +0900"


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"errorMessage": message, "errorCode": code}


def make_item(
    title: str,
    originallink: str,
    *,
    link: str | None = None,
    description: str = "",
    pub_date: str = "Mon, 23 Nov 2026 09:30:00 +0900",
) -> dict[str, Any]:
    return {
        "title": title,
        "originallink": originallink,
        "link": link if link is not None else "https://n.news.naver.com/mnews/article/001/0000000001",
        "description": description,
        "pubDate": pub_date,
    }


def make_items(n: int) -> list[dict[str, Any]]:
    """`n` distinct items about 삼성전자, highlighted the way Naver does it."""
    return [
        make_item(
            f"<b>삼성전자</b> 뉴스 {i}번 &quot;HBM&quot;",
            f"https://www.koreanews.example/article/{i}",
            link=f"https://n.news.naver.com/mnews/article/015/{i:010d}",
            description=f"<b>삼성전자</b>가 {i}번째 소식을 전했다 &amp; 시장이 반응했다",
        )
        for i in range(n)
    ]


class FakeNaver(ScriptedEndpoint):
    path = "/v1/search/news.json"

    def __init__(
        self,
        httpserver: HTTPServer,
        *,
        client_id: str,
        client_secret: str,
        items: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.items: list[dict[str, Any]] = list(items)
        super().__init__(httpserver)

    def serve(self, request: Request) -> Response:
        if (
            request.headers.get("X-Naver-Client-Id") != self.client_id
            or request.headers.get("X-Naver-Client-Secret") != self.client_secret
        ):
            return json_response(error_body("024", "Authentication failed. (인증에 실패했습니다.)"), 401)
        if not request.args.get("query"):
            return json_response(error_body("SE01", "Incorrect query request (잘못된 쿼리요청입니다.)"), 400)
        try:
            display = int(request.args.get("display", "10"))
        except ValueError:
            display = 0
        if not 1 <= display <= 100:
            return json_response(error_body("SE02", "Invalid display value (부적절한 display 값입니다.)"), 400)
        try:
            start = int(request.args.get("start", "1"))
        except ValueError:
            start = 0
        if not 1 <= start <= 1000:
            return json_response(error_body("SE03", "Invalid start value (부적절한 start 값입니다.)"), 400)
        if request.args.get("sort", "sim") not in ("sim", "date"):
            return json_response(error_body("SE04", "Invalid sort value (부적절한 sort 값입니다.)"), 400)
        page = self.items[start - 1 : start - 1 + display]
        return json_response(
            {"lastBuildDate": LAST_BUILD, "total": len(self.items), "start": start, "display": len(page), "items": page}
        )

    def starts(self) -> list[int]:
        return [int(r.arg("start") or 1) for r in self.requests]

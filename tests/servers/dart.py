"""A fake OpenDART (`/api/list.json`, `/api/corpCode.xml`) with the real service's wire semantics.

- every answer is HTTP 200 with a `status`: a missing or wrong `crtfc_key` → `010`;
- `list.json`: `corp_code` must be 8 digits, `bgn_de`/`end_de` real YYYYMMDD dates in order,
  `page_no` ≥ 1, `page_count` 1-100, `sort` date|crp|rpt, `sort_mth` asc|desc (else `100`);
  the filings of `corp_code` received inside the window are answered newest first in pages,
  `{"status":"000","message":"정상","page_no","page_count","total_count","total_page","list"}`,
  and `013` when there are none (also for a page past the last);
- `corpCode.xml`: a real ZIP holding `CORPCODE.xml` with every company (unlisted ones with a
  blank `stock_code`); its errors are XML `<result><status/><message/></result>` bodies.

`list_api.fail_next(...)` / `corp_api.fail_next(...)` script other answers, e.g.
`fail_next(status=200, json=status_body("020"))` or a non-JSON body.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stockteacher.sources.dart import KST
from tests.servers.base import ScriptedEndpoint, json_response

__all__ = [
    "MESSAGES",
    "Company",
    "FakeDart",
    "corp_code_zip",
    "make_filing",
    "status_body",
    "status_xml",
]

MESSAGES = {
    "000": "정상",
    "010": "등록되지 않은 키입니다.",
    "011": "사용할 수 없는 키입니다. 오픈API에 등록되었으나, 일시적으로 사용 중지된 키를 통하여 검색하는 경우 발생합니다.",
    "012": "접근할 수 없는 IP입니다.",
    "013": "조회된 데이타가 없습니다.",
    "014": "파일이 존재하지 않습니다.",
    "020": "요청 제한을 초과하였습니다.",
    "021": "조회 가능한 회사 개수가 초과하였습니다.(최대 100건)",
    "100": "필드의 부적절한 값입니다.",
    "101": "부적절한 접근입니다.",
    "800": "시스템 점검으로 인한 서비스가 중지 중입니다.",
    "900": "정의되지 않은 오류가 발생하였습니다.",
    "901": "사용자 계정의 개인정보 보유기간이 만료되어 사용할 수 없는 키입니다.",
}


def status_body(status: str) -> dict[str, str]:
    return {"status": status, "message": MESSAGES.get(status, "?")}


def status_xml(status: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<result><status>{status}</status><message>{escape(MESSAGES.get(status, '?'))}</message></result>"
    )


@dataclass(frozen=True)
class Company:
    corp_code: str
    corp_name: str
    stock_code: str = " "  # blank for an unlisted company, as in the real file
    corp_eng_name: str = ""
    modify_date: str = "20231115"


SAMSUNG = Company("00126380", "삼성전자", "005930", "SAMSUNG ELECTRONICS CO,.LTD")
COMPANIES = (
    SAMSUNG,
    Company("00164779", "SK하이닉스", "000660", "SK hynix Inc."),
    Company("00434003", "다코"),  # unlisted
    Company("00430964", "굿앤엘에스"),  # unlisted
)


def corp_code_zip(companies: Sequence[Company], *, name: str = "CORPCODE.xml") -> bytes:
    """The archive `corpCode.xml` answers: one XML file listing every company."""
    rows = "".join(
        "<list>"
        f"<corp_code>{c.corp_code}</corp_code><corp_name>{escape(c.corp_name)}</corp_name>"
        f"<corp_eng_name>{escape(c.corp_eng_name)}</corp_eng_name><stock_code>{c.stock_code}</stock_code>"
        f"<modify_date>{c.modify_date}</modify_date>"
        "</list>\n"
        for c in companies
    )
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<result>\n{rows}</result>\n'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, xml.encode("utf-8"))
    return buffer.getvalue()


def today_kst() -> date:
    return datetime.now(KST).date()


def make_filing(
    report_nm: str,
    *,
    days_ago: int = 0,
    seq: int = 1,
    company: Company = SAMSUNG,
    flr_nm: str | None = None,
    rm: str = "유",
    corp_cls: str = "Y",
    rcept_dt: str | None = None,
    rcept_no: str | None = None,
) -> dict[str, Any]:
    """One filing in `list.json`'s shape, received `days_ago` days before today (KST)."""
    day = rcept_dt or (today_kst() - timedelta(days=days_ago)).strftime("%Y%m%d")
    return {
        "corp_code": company.corp_code,
        "corp_name": company.corp_name,
        "stock_code": company.stock_code.strip(),
        "corp_cls": corp_cls,
        "report_nm": report_nm,
        "rcept_no": rcept_no if rcept_no is not None else f"{day[:8]}{800000 + seq:06d}",
        "flr_nm": flr_nm if flr_nm is not None else company.corp_name,
        "rcept_dt": day,
        "rm": rm,
    }


def _date(text: str | None) -> date | None:
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


class _ListEndpoint(ScriptedEndpoint):
    path = "/api/list.json"

    def __init__(self, httpserver: HTTPServer, dart: FakeDart) -> None:
        self.dart = dart
        super().__init__(httpserver)

    def serve(self, request: Request) -> Response:
        args = request.args
        if args.get("crtfc_key") != self.dart.api_key:
            return json_response(status_body("010"))
        corp_code = args.get("corp_code", "")
        begin, end = _date(args.get("bgn_de")), _date(args.get("end_de"))
        try:
            page_no = int(args.get("page_no", "1"))
            page_count = int(args.get("page_count", "10"))
        except ValueError:
            return json_response(status_body("100"))
        if (
            len(corp_code) != 8
            or not corp_code.isdigit()
            or begin is None
            or end is None
            or begin > end
            or page_no < 1
            or not 1 <= page_count <= 100
            or args.get("sort", "date") not in ("date", "crp", "rpt")
            or args.get("sort_mth", "desc") not in ("asc", "desc")
        ):
            return json_response(status_body("100"))
        # A filing whose date cannot be read is answered in every window, and anything that is
        # not a filing at all (scripted junk) after the filings: the client must cope with both.
        found = [
            f
            for f in self.dart.filings
            if isinstance(f, dict)
            and f.get("corp_code") == corp_code
            and begin <= (_date(str(f.get("rcept_dt"))) or begin) <= end
        ]
        found.sort(key=lambda f: (str(f.get("rcept_dt")), str(f.get("rcept_no"))), reverse=True)
        found += [f for f in self.dart.filings if not isinstance(f, dict)]
        page = found[(page_no - 1) * page_count : page_no * page_count]
        if not page:
            return json_response(status_body("013"))
        return json_response(
            {
                **status_body("000"),
                "page_no": page_no,
                "page_count": page_count,
                "total_count": len(found),
                "total_page": math.ceil(len(found) / page_count),
                "list": page,
            }
        )

    def pages(self) -> list[int]:
        return [int(r.arg("page_no") or 1) for r in self.requests]


class _CorpCodeEndpoint(ScriptedEndpoint):
    path = "/api/corpCode.xml"

    def __init__(self, httpserver: HTTPServer, dart: FakeDart) -> None:
        self.dart = dart
        super().__init__(httpserver)

    def serve(self, request: Request) -> Response:
        if request.args.get("crtfc_key") != self.dart.api_key:
            return Response(status_xml("010"), content_type="application/xml;charset=UTF-8")
        return Response(
            corp_code_zip(self.dart.companies),
            content_type="application/x-msdownload;charset=UTF-8",
            headers={"Content-Disposition": "attachment; filename=CORPCODE.zip"},
        )


class FakeDart:
    """Both endpoints, sharing the key, the companies and the filings."""

    def __init__(
        self,
        httpserver: HTTPServer,
        *,
        api_key: str,
        companies: Sequence[Company] = COMPANIES,
        filings: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.httpserver = httpserver
        self.api_key = api_key
        self.companies: list[Company] = list(companies)
        self.filings: list[Any] = list(filings)
        self.list_api = _ListEndpoint(httpserver, self)
        self.corp_api = _CorpCodeEndpoint(httpserver, self)

    @property
    def endpoint(self) -> str:
        """What `DART_ENDPOINT` is set to (the real one is https://opendart.fss.or.kr/api)."""
        return self.httpserver.url_for("/api")

    def close(self) -> None:
        self.list_api.close()
        self.corp_api.close()

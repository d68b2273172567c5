"""OpenDART (the FSS's electronic disclosure API) for the regulatory filings of Korean companies.

Filings are listed by `GET {DART_ENDPOINT}/list.json` with the company's 8-digit DART code
(`corp_code`), a receipt-date window (`bgn_de`/`end_de`, YYYYMMDD in Korean time) and pages of
`page_count` (1-100). The key travels as the `crtfc_key` query parameter, as OpenDART requires:
no message of ours contains a URL, and logging masks the key (`stockteacher.logs`).

Every answer is HTTP 200; its `status` says what happened::

    000 ok                     013 no filings (an empty result, not an error)
    020 request limit          RateLimitedError        (retried per the shared policy)
    800 maintenance, 900 undefined error   TransientSourceError
    010/011/012/901 key or IP refused      SourceConfigError
    014, 021, 100, 101, anything else      PermanentSourceError

each with `code="dart_<status>"` and OpenDART's message.

Companies are found by stock code through the corp-code map: `GET {DART_ENDPOINT}/corpCode.xml`
answers a ZIP holding `CORPCODE.xml` (every company; unlisted ones have a blank
`stock_code`), or an error body (JSON or XML with a `status`) instead. The listed companies'
`stock_code → corp_code` map is cached at `DART_CORP_CODE_PATH` (JSON, replaced atomically)
and downloaded again when older than `DART_CORP_CODE_MAX_AGE_HOURS`; a stale map is used, with
a warning, while a refresh fails transiently. `stockteacher dart refresh-corp-codes` refreshes it.

Only Korean tickers have filings: for others `fetch` returns []. Each filing becomes one
article: its report name as the title, the DART viewer page as the URL, the receipt date at
midnight KST as the publication time, the company, filer and `rm` marks in words as the body,
and only what sets the filing apart (another filer, 정정/철회/연결) as the description: words
shared by all of a company's filings would make unrelated filings one story. A filing that
cannot be an article (no receipt number) is passed on as it is, for normalisation to drop with
its reason; one with an unreadable date is kept, dated by its collection.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx

from stockteacher.core.tls import tls_context
from stockteacher.logs import get_logger
from stockteacher.settings import Settings
from stockteacher.sources.base import (
    HttpPolicy,
    MalformedResponseError,
    PermanentSourceError,
    RateLimitedError,
    RawArticle,
    SourceConfigError,
    SourceError,
    TransientSourceError,
    error_for_status,
    get_with_policy,
    log_rate_limit,
    with_retries,
)
from stockteacher.tickers.registry import TickerInfo

__all__ = [
    "CorpCodes",
    "DartSource",
    "KST",
    "VIEWER_URL",
    "dart_error",
    "is_korean",
    "load_corp_codes",
    "parse_corp_code_zip",
    "refresh_corp_codes",
    "save_corp_codes",
]

log = get_logger(__name__)
NAME = "dart"
KST = ZoneInfo("Asia/Seoul")
VIEWER_URL = "https://dart.fss.or.kr/dsaf001/main.do?rcpNo={rcept_no}"
CACHE_VERSION = 1
OK, NO_DATA = "000", "013"
RATE_LIMITED = frozenset({"020"})
TRANSIENT = frozenset({"800", "900"})
NOT_CONFIGURED = frozenset({"010", "011", "012", "901"})
# What the one-letter marks of `rm` mean, in the words a beginner can read.
RM_NOTES = {
    "유": "유가증권시장본부 소관",
    "코": "코스닥시장본부 소관",
    "채": "채권상장법인 공시",
    "넥": "코넥스시장 소관",
    "공": "공정거래위원회 소관",
    "연": "연결부분 포함",
    "정": "이후 정정 공시 있음",
    "철": "철회된 공시",
}
# Marks that set one filing apart (the market and authority marks are the same on every filing
# of a company).
SPECIFIC_MARKS = frozenset("연정철")
_STOCK_CODE = re.compile(r"^[0-9A-Z]{6}$")
_CORP_CODE = re.compile(r"^\d{8}$")
_RCEPT_NO = re.compile(r"^\d{14}$")
_DATE = re.compile(r"^\d{8}$")
_WS = re.compile(r"\s+")
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def is_korean(ticker: TickerInfo) -> bool:
    """A ticker whose filings are on DART: a Korean listing with a six-character stock code."""
    korean = ticker.country == "KR" or ticker.symbol.endswith((".KS", ".KQ"))
    return korean and bool(_STOCK_CODE.match(ticker.base_symbol))


def dart_error(status: str, message: str, *, what: str = "list.json") -> SourceError:
    """The error for a non-000, non-013 OpenDART status (see the module docstring)."""
    code = f"dart_{status or 'unknown'}"
    detail = f"dart: {what} answered status {status or '(none)'}: {message[:200] or '(no message)'}"
    if status in RATE_LIMITED:
        limited = RateLimitedError(detail, source=NAME, code=code, retry_after=None)
        log_rate_limit(NAME, limited)
        return limited
    if status in TRANSIENT:
        return TransientSourceError(detail, source=NAME, code=code)
    if status in NOT_CONFIGURED:
        return SourceConfigError(detail, source=NAME, code=code)
    return PermanentSourceError(detail, source=NAME, code=code)


def _policy(settings: Settings) -> HttpPolicy:
    return HttpPolicy.of(settings, "dart")


def _api_key(settings: Settings) -> str:
    key = settings.dart_api_key
    if key is None or not key.get_secret_value().strip():
        raise SourceConfigError("dart: DART_API_KEY is not set", source=NAME, code="credentials_missing")
    return key.get_secret_value().strip()


# --- the corp-code map ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorpCodes:
    """Listed companies' DART codes by stock code, and when they were downloaded."""

    fetched_at: datetime
    by_stock_code: dict[str, str]

    def older_than(self, hours: float, *, now: datetime) -> bool:
        return now - self.fetched_at > timedelta(hours=hours)


def parse_corp_code_zip(content: bytes) -> dict[str, str]:
    """`stock_code → corp_code` of the listed companies in OpenDART's `corpCode.xml` ZIP."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".xml")]
            if not names:
                raise MalformedResponseError("dart: corpCode.xml archive holds no XML file", source=NAME)
            name = next((n for n in names if n.upper().endswith("CORPCODE.XML")), names[0])
            with archive.open(name) as xml:
                return _read_corp_codes(xml)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise MalformedResponseError(f"dart: corpCode.xml is not a readable ZIP ({exc})", source=NAME) from exc


def _read_corp_codes(xml: Any) -> dict[str, str]:
    codes: dict[str, str] = {}
    try:
        for _event, element in ElementTree.iterparse(xml, events=("end",)):
            if element.tag != "list":
                continue
            corp_code = (element.findtext("corp_code") or "").strip()
            stock_code = (element.findtext("stock_code") or "").strip().upper()
            if _CORP_CODE.match(corp_code) and _STOCK_CODE.match(stock_code):
                codes[stock_code] = corp_code
            element.clear()  # the file lists every company (100,000+): keep memory flat
    except ElementTree.ParseError as exc:
        raise MalformedResponseError(f"dart: CORPCODE.xml is not readable XML ({exc})", source=NAME) from exc
    return codes


def load_corp_codes(path: str | Path) -> CorpCodes | None:
    """The cached map, or None when there is none (or it cannot be read: it is downloaded anew)."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        fetched_at = datetime.fromisoformat(data["fetched_at"])
        codes = data["corp_codes"]
        if data.get("version") != CACHE_VERSION or fetched_at.tzinfo is None or not isinstance(codes, dict):
            raise ValueError("unexpected layout")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("dart.corp_codes_unreadable", path=str(file), error=f"{type(exc).__name__}: {exc}"[:200])
        return None
    return CorpCodes(fetched_at=fetched_at, by_stock_code={str(k): str(v) for k, v in codes.items()})


def save_corp_codes(path: str | Path, codes: CorpCodes) -> None:
    """Write the map next to its final place, then rename it there: a reader (another collector)
    sees the old file or the new one, never half of one."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "version": CACHE_VERSION,
        "fetched_at": codes.fetched_at.isoformat(),
        "listed": len(codes.by_stock_code),
        "corp_codes": dict(sorted(codes.by_stock_code.items())),
    }
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _error_status(response: httpx.Response) -> tuple[str, str] | None:
    """(status, message) of an OpenDART error body, JSON or XML; None if it is neither."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "status" in body:
        return str(body.get("status") or ""), str(body.get("message") or "")
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return None
    status = root.findtext("status") if root.tag == "result" else None
    return (status.strip(), (root.findtext("message") or "").strip()) if status is not None else None


async def _download_corp_codes(client: httpx.AsyncClient, settings: Settings, key: str) -> dict[str, str]:
    response = await get_with_policy(
        client, f"{settings.dart_endpoint}/corpCode.xml", source=NAME, params={"crtfc_key": key}
    )
    if response.status_code >= 400:
        raise error_for_status(response, source=NAME)
    if response.content[:4] == b"PK\x03\x04":
        return parse_corp_code_zip(response.content)
    error = _error_status(response)
    if error is None or error[0] == OK:
        raise MalformedResponseError(
            f"dart: corpCode.xml answered neither a ZIP nor an error status "
            f"({response.headers.get('content-type', 'no content-type')})",
            source=NAME,
        )
    raise dart_error(error[0], error[1], what="corpCode.xml")


async def refresh_corp_codes(
    settings: Settings,
    *,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = _utcnow,
) -> CorpCodes:
    """Download the corp-code map (retried per the shared policy) and cache it."""
    key = _api_key(settings)
    policy = _policy(settings)
    if client is None:
        async with httpx.AsyncClient(timeout=policy.timeout_seconds, transport=transport, verify=tls_context()) as own:
            return await refresh_corp_codes(settings, client=own, clock=clock)
    by_stock_code = await with_retries(lambda: _download_corp_codes(client, settings, key), source=NAME, policy=policy)
    if not by_stock_code:
        raise MalformedResponseError("dart: corpCode.xml lists no listed company", source=NAME)
    codes = CorpCodes(fetched_at=clock(), by_stock_code=by_stock_code)
    save_corp_codes(settings.dart_corp_code_path, codes)
    log.info("dart.corp_codes_refreshed", listed=len(by_stock_code), path=settings.dart_corp_code_path)
    return codes


# --- the source ----------------------------------------------------------------------------


class DartSource:
    name = NAME

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.policy = _policy(settings)

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        if not is_korean(ticker):
            log.info("dart.not_korean", reason="DART lists Korean companies only")
            return []
        key = _api_key(self.settings)
        async with httpx.AsyncClient(
            timeout=self.policy.timeout_seconds, transport=self.transport, verify=tls_context()
        ) as client:
            corp_code = await self._corp_code(client, ticker.base_symbol)
            if corp_code is None:
                log.warning(
                    "dart.unknown_company", stock_code=ticker.base_symbol, path=self.settings.dart_corp_code_path
                )
                return []
            articles, pages = await self._filings(client, key, corp_code)
        log.info("dart.fetched", corp_code=corp_code, pages=pages, items=len(articles))
        return articles

    async def _filings(self, client: httpx.AsyncClient, key: str, corp_code: str) -> tuple[list[RawArticle], int]:
        """The company's filings of the lookback window, newest first, page after page until
        `total_page` or `DART_MAX_PAGES`; and how many pages that took."""
        settings = self.settings
        today = self.clock().astimezone(KST).date()
        base: dict[str, Any] = {
            "crtfc_key": key,
            "corp_code": corp_code,
            "bgn_de": (today - timedelta(days=settings.dart_lookback_days)).strftime("%Y%m%d"),
            "end_de": today.strftime("%Y%m%d"),
            "sort": "date",
            "sort_mth": "desc",
            "page_count": settings.dart_page_count,
        }
        articles: list[RawArticle] = []
        page = 1
        while True:
            params = {**base, "page_no": page}
            body = await with_retries(partial(self._get_page, client, params), source=NAME, policy=self.policy)
            articles.extend(self._to_raw(item) for item in body["list"])
            total_pages = _int(body.get("total_page"))
            if not body["list"] or page >= min(total_pages, settings.dart_max_pages):
                if total_pages > settings.dart_max_pages:
                    log.info("dart.page_cap_reached", total_page=total_pages, max_pages=settings.dart_max_pages)
                return articles, page
            page += 1

    async def _corp_code(self, client: httpx.AsyncClient, stock_code: str) -> str | None:
        settings = self.settings
        cached = load_corp_codes(settings.dart_corp_code_path)
        if cached is None or cached.older_than(settings.dart_corp_code_max_age_hours, now=self.clock()):
            try:
                cached = await refresh_corp_codes(settings, client=client, clock=self.clock)
            except TransientSourceError as exc:
                if cached is None:
                    raise
                log.warning(
                    "dart.corp_codes_stale",
                    error_code=exc.code,
                    fetched_at=cached.fetched_at.isoformat(),
                    max_age_hours=settings.dart_corp_code_max_age_hours,
                )
        return cached.by_stock_code.get(stock_code)

    async def _get_page(self, client: httpx.AsyncClient, params: dict[str, Any]) -> dict[str, Any]:
        response = await get_with_policy(client, f"{self.settings.dart_endpoint}/list.json", source=NAME, params=params)
        if response.status_code >= 400:
            raise error_for_status(response, source=NAME)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise MalformedResponseError(
                f"dart: list.json answered no status (HTTP {response.status_code}, "
                f"{response.headers.get('content-type', 'no content-type')})",
                source=NAME,
            )
        status, message = str(body.get("status") or ""), str(body.get("message") or "")
        if status == NO_DATA:
            return {"list": [], "total_page": 0}
        if status != OK:
            raise dart_error(status, message)
        if not isinstance(body.get("list"), list):
            raise MalformedResponseError("dart: list.json answered status 000 without a list", source=NAME)
        return body

    @staticmethod
    def _to_raw(item: Any) -> RawArticle:
        if not isinstance(item, dict):
            return RawArticle(title=None, url=None, source_name="DART", extra={"dart_item": repr(item)[:100]})
        rcept_no = str(item.get("rcept_no") or "").strip()
        corp_name = _text(item.get("corp_name"))
        stock_code = _text(item.get("stock_code"))
        filer = _text(item.get("flr_nm"))
        remark = _text(item.get("rm"))
        company = f"{corp_name}({stock_code})" if corp_name and stock_code else corp_name or stock_code
        notes = [RM_NOTES[mark] for mark in dict.fromkeys(remark) if mark in RM_NOTES]
        whole = [f"{company} 공시" if company else "DART 공시", *([f"제출인 {filer}"] if filer else []), *notes]
        # The description says only what sets this filing apart: the same words on every
        # filing of a company would make unrelated filings one story (clustering compares
        # title + description); the full line goes in the body, which relevance also reads.
        specific = [f"제출인 {filer}"] if filer and filer != corp_name else []
        specific += [RM_NOTES[mark] for mark in dict.fromkeys(remark) if mark in SPECIFIC_MARKS]
        return RawArticle(
            title=_text(item.get("report_nm")) or None,
            url=VIEWER_URL.format(rcept_no=rcept_no) if _RCEPT_NO.match(rcept_no) else None,
            description=" · ".join(specific) or None,
            body=" · ".join(whole),
            source_name="DART",
            published_at=_receipt_date(item.get("rcept_dt")),
            language="ko",
            author=filer or None,
            extra={
                "rcept_no": rcept_no or None,
                "corp_code": item.get("corp_code"),
                "corp_cls": item.get("corp_cls"),
                "rm": remark or None,
            },
        )


def _text(value: Any) -> str:
    return _WS.sub(" ", str(value)).strip() if value is not None else ""


def _int(value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if math.isfinite(number) else 0


def _receipt_date(value: Any) -> datetime | str | None:
    """Midnight KST of a `YYYYMMDD` receipt date. One that cannot be read goes on labelled
    (`rcept_dt=…`, which no date parser reads), a missing one as None: either way the filing is
    kept, and collect dates it by its collection (flagged `published_at_estimated`)."""
    text = _text(value)
    if not text:
        return None
    try:
        if not _DATE.match(text):  # strptime alone would read 2026112 as 2 November
            raise ValueError(text)
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=KST)
    except ValueError:
        return f"rcept_dt={text[:40]}"

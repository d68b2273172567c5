"""What the stock did after a report: stored daily bars and outcomes as chat sources.

The chat comes after the fact, so showing what happened next is the point — but only what has
happened: `price_context(session, report)` (called when a turn's request is built) gathers, as
plain data that can cross the Serve boundary,

- the ticker's and its benchmark's bars from day 0 (`calendars.base_session`: the first close
  after publication, as the track record measures) through day +20 or the last session closed
  by now, whichever comes first — never a bar dated after now;
- each symbol's last bar before day 0, labelled as a reference (it is not an outcome);
- each horizon (1/5/20 sessions) with its end date and whether it has passed, and the stored
  outcome (`report_outcomes`) of every horizon that has one.

`price_items` numbers those bars as sources the teacher cites like articles (a citation of
`kind: "price"` with the stable `ref` `price:AAPL:2026-11-23` in place of a URL);
`asks_about_prices` spots a "what happened after" question; `offline_price_answer` answers
one from the bars alone, deterministically; `prompt_lines` shows them to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from stockteacher.prices.calendars import base_session, last_closed_session, market_for, session_after, sessions_between
from stockteacher.prices.service import load_bars
from stockteacher.store.models import PriceBar, Report, utcnow
from stockteacher.track.evaluate import HORIZONS
from stockteacher.track.service import outcomes_for

__all__ = [
    "PriceItem",
    "asks_about_prices",
    "offline_price_answer",
    "price_context",
    "price_items",
    "prompt_lines",
]

REFERENCE_LOOKBACK_DAYS = 10  # how far before day 0 a "last bar before publication" may be
LAST_HORIZON = max(HORIZONS)
OFFLINE_PRICES_KO = (
    "오프라인 모드입니다: AI 선생님이 연결되어 있지 않아, 저장된 일별 주가로 이 뉴스 이후의 움직임을 보여 드려요."
)
NOT_ADVICE_KO = "참고용 설명이며 투자 조언이 아닙니다."
PAST_NOT_ADVICE_KO = "지난 움직임에 대한 설명이며 투자 조언이 아닙니다."

_PRICE_QUESTION = re.compile(
    r"주가|이후|어떻게\s*됐|올랐|떨어졌|what\s+happened|\bafter\b|\bprices?\b|\bstock\s+(?:do|did|does|go|went)\b",
    re.IGNORECASE,
)


def asks_about_prices(question: str) -> bool:
    """Whether the question asks what the stock did (Korean or English)."""
    return bool(_PRICE_QUESTION.search(question))


# --- building the context (in the API process, with the database) ----------------------------
def _bar(row: PriceBar, day: int | None) -> dict[str, Any]:
    return {
        "symbol": row.ticker,
        "date": row.trading_date.isoformat(),
        "close": float(row.close),
        "adj_close": float(row.adj_close),
        "currency": row.currency,
        "source": row.source,
        "day": day,  # sessions after day 0; None for the reference bar
    }


def _series(session: Session, symbol: str, market: Any, base: date, upto: date) -> dict[str, Any]:
    before = load_bars(session, symbol, base - timedelta(days=REFERENCE_LOOKBACK_DAYS), base - timedelta(days=1))
    rows = load_bars(session, symbol, base, upto) if upto >= base else []
    days = {d: i for i, d in enumerate(sessions_between(market, base, upto))} if rows else {}
    return {
        "reference": _bar(before[-1], None) if before else None,
        "bars": [_bar(r, days.get(r.trading_date)) for r in rows],
    }


def price_context(session: Session, report: Report, *, now: datetime | None = None) -> dict[str, Any]:
    """The report's price context as plain data (see the module doc)."""
    now = now or utcnow()
    market = market_for(report.ticker)
    base = base_session(market, report.published_at)
    as_of = last_closed_session(market, now)
    horizons = []
    for h in HORIZONS:
        end = session_after(market, base, h)
        horizons.append({"days": h, "end_date": end.isoformat(), "passed": end <= as_of})
    upto = min(session_after(market, base, LAST_HORIZON), as_of)
    stored = outcomes_for(session, [report.insight_id]).get(report.insight_id, {})
    outcomes = {
        key: {k: o[k] for k in ("return", "benchmark_return", "excess_return", "base_date", "end_date")}
        for key, o in stored.items()
    }
    return {
        "ticker": report.ticker,
        "benchmark": market.benchmark,
        "benchmark_name_en": market.benchmark_name_en,
        "benchmark_name_ko": market.benchmark_name_ko,
        "published_at": report.published_at.isoformat(),
        "base_date": base.isoformat(),
        "as_of": as_of.isoformat(),
        "horizons": horizons,
        "stock": _series(session, report.ticker, market, base, upto),
        "index": _series(session, market.benchmark, market, base, upto),
        "outcomes": outcomes,
    }


# --- sources ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PriceItem:
    """One stored bar as a citable source."""

    symbol: str
    date: str
    close: float
    adj_close: float
    currency: str | None
    source: str
    day: int | None  # sessions after day 0; None: the reference bar before publication
    title: str

    @property
    def ref(self) -> str:
        return f"price:{self.symbol}:{self.date}"

    @property
    def reference(self) -> bool:
        return self.day is None

    def citation(self, n: int) -> dict[str, Any]:
        return {
            "n": n,
            "kind": "price",
            "ref": self.ref,
            "article_id": None,
            "url": None,
            "title": self.title,
            "source": self.source,
            "symbol": self.symbol,
            "date": self.date,
        }


def _money(value: float, currency: str | None, symbol: str) -> str:
    whole = currency == "KRW" and not symbol.startswith("^")
    text = f"{value:,.0f}" if whole else f"{value:,.2f}"
    return text if symbol.startswith("^") or not currency else f"{text} {currency}"


def _item(bar: dict[str, Any], korean: bool) -> PriceItem:
    close = float(bar["close"])
    label = "종가" if korean else "close"
    return PriceItem(
        symbol=str(bar["symbol"]),
        date=str(bar["date"]),
        close=close,
        adj_close=float(bar["adj_close"]),
        currency=bar.get("currency"),
        source=str(bar.get("source") or "price_bars"),
        day=bar.get("day"),
        title=f"{bar['symbol']} {bar['date']} {label} {_money(close, bar.get('currency'), str(bar['symbol']))}",
    )


def _series_items(context: dict[str, Any], key: str, korean: bool) -> tuple[PriceItem | None, list[PriceItem]]:
    series = context.get(key) or {}
    reference = series.get("reference")
    return (_item(reference, korean) if reference else None), [_item(b, korean) for b in series.get("bars") or []]


def price_items(context: dict[str, Any] | None, *, korean: bool) -> list[PriceItem]:
    """Every bar of the context as a source, in the order the prompt lists them: the two
    reference bars, then the stock's bars, then the benchmark's."""
    if not context:
        return []
    stock_ref, stock = _series_items(context, "stock", korean)
    index_ref, index = _series_items(context, "index", korean)
    return [i for i in (stock_ref, index_ref) if i is not None] + stock + index


def _pct(value: float) -> str:
    return f"{value * 100:+.2f}%"


def _on_or_before(items: list[PriceItem], day: str) -> PriceItem | None:
    found = [i for i in items if i.date <= day]
    return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class _Move:
    horizon: int
    end_date: str
    stock_return: float
    index_return: float | None
    excess: float | None
    used: list[PriceItem]


def _move(
    context: dict[str, Any], horizon: int, end_date: str, stock: list[PriceItem], index: list[PriceItem]
) -> _Move | None:
    """The move to `end_date`: the stored outcome's figures when there is one, else the bars'."""
    base = str(context["base_date"])
    s0, s1 = _on_or_before(stock, base), _on_or_before(stock, end_date)
    b0, b1 = _on_or_before(index, base), _on_or_before(index, end_date)
    used = [i for i in (s0, s1, b0, b1) if i is not None]
    stored = (context.get("outcomes") or {}).get(str(horizon))
    if stored:
        return _Move(
            horizon, end_date, float(stored["return"]), float(stored["benchmark_return"]),
            float(stored["excess_return"]), used,
        )  # fmt: skip
    if s0 is None or s1 is None or s0.date != base:
        return None
    stock_return = s1.adj_close / s0.adj_close - 1
    index_return = b1.adj_close / b0.adj_close - 1 if b0 is not None and b1 is not None and b0.date == base else None
    excess = None if index_return is None else stock_return - index_return
    return _Move(horizon, end_date, stock_return, index_return, excess, used)


def _summary_lines(context: dict[str, Any], korean: bool, cite: Any) -> list[str]:
    """The moves per horizon, each line citing the bars it used through `cite(items) -> str`."""
    ticker, name = context["ticker"], context["benchmark_name_ko" if korean else "benchmark_name_en"]
    _, stock = _series_items(context, "stock", korean)
    _, index = _series_items(context, "index", korean)
    lines = []
    last_known = str(context["base_date"])
    pending = []
    for h in context.get("horizons") or []:
        days, end = int(h["days"]), str(h["end_date"])
        if not h.get("passed"):
            pending.append(days)
            lines.append(
                f"- {days}거래일 후({end}): 아직 {days}거래일이 지나지 않았어요."
                if korean
                else f"- +{days} trading days ({end}): {days} trading days have not passed yet."
            )
            continue
        move = _move(context, days, end, stock, index)
        if move is None:
            lines.append(
                f"- {days}거래일 후({end}): 이 날의 저장된 주가 데이터가 없어요."
                if korean
                else f"- +{days} trading days ({end}): no price data is stored for that day."
            )
            continue
        last_known = max(last_known, end)
        lines.append(_move_line(move, ticker, name, korean, cite))
    latest = stock[-1] if stock else None
    if pending and latest is not None and latest.date > last_known:
        move = _move({**context, "outcomes": {}}, -1, latest.date, stock, index)
        if move is not None:
            so_far = (
                f"- 지금까지({latest.date}, 기준일 후 {latest.day}거래일)"
                if korean
                else f"- So far ({latest.date}, {latest.day} trading days after day 0)"
            )
            lines.append(_move_line(move, ticker, name, korean, cite, label=so_far))
    return lines


def _move_line(move: _Move, ticker: str, name: str, korean: bool, cite: Any, *, label: str = "") -> str:
    stock_used = [i for i in move.used if i.symbol == ticker]
    index_used = [i for i in move.used if i.symbol != ticker]
    if korean:
        head = label or f"- {move.horizon}거래일 후({move.end_date})"
        text = f"{head}: {ticker} {_pct(move.stock_return)}{cite(stock_used)}"
        if move.index_return is not None and move.excess is not None:
            text += f", {name} {_pct(move.index_return)}{cite(index_used)} → 시장 대비 {move.excess * 100:+.2f}%p"
        else:
            text += f" ({name} 데이터는 저장되어 있지 않아요)"
        return text
    head = label or f"- +{move.horizon} trading day{'s' if move.horizon != 1 else ''} ({move.end_date})"
    text = f"{head}: {ticker} {_pct(move.stock_return)}{cite(stock_used)}"
    if move.index_return is not None and move.excess is not None:
        text += f", {name} {_pct(move.index_return)}{cite(index_used)} → {move.excess * 100:+.2f} pp vs the market"
    else:
        text += f" (no {name} data is stored)"
    return text


def _has_data(context: dict[str, Any] | None) -> bool:
    if not context:
        return False
    return bool((context.get("stock") or {}).get("bars") or context.get("outcomes"))


# --- the offline answer ----------------------------------------------------------------------
def offline_price_answer(context: dict[str, Any] | None, *, korean: bool) -> tuple[str, list[PriceItem]]:
    """The answer to "what did the stock do after this news?" from the stored bars alone, and
    the bars it cites, numbered [1], [2], … in the order they are first cited."""
    cited: list[PriceItem] = []

    def cite(items: list[PriceItem]) -> str:
        marks = []
        for item in items:
            if item not in cited:
                cited.append(item)
            marks.append(f"[{cited.index(item) + 1}]")
        return " " + "".join(dict.fromkeys(marks)) if marks else ""

    if korean:
        lines = [OFFLINE_PRICES_KO, ""]
    else:
        lines = [
            "Offline mode: the AI teacher is not connected, so here is what the stored daily prices show "
            "after this news.",
            "",
        ]
    if not context or not _has_data(context):
        since = f" ({context['base_date']} ~ {context['as_of']})" if context else ""
        lines.append(
            f"이 기간{since}의 저장된 주가 데이터가 없어서, 이 뉴스 이후 주가가 어떻게 됐는지는 알려 드릴 수 없어요."
            if korean
            else f"No price data is stored for this period{since}, so I cannot say what the stock did after this news."
        )
        lines += ["", NOT_ADVICE_KO if korean else "This is an explanation, not investment advice."]
        return "\n".join(lines), []
    stock_ref, stock = _series_items(context, "stock", korean)
    base = str(context["base_date"])
    published = str(context["published_at"])[:16].replace("T", " ")
    _, index = _series_items(context, "index", korean)
    day0 = next((i for i in stock if i.date == base), None)
    index0 = next((i for i in index if i.date == base), None)
    # cite in reading order, so the numbers run [1], [2], … down the answer
    reference = f"{stock_ref.title}{cite([stock_ref])}" if stock_ref is not None else ""
    day0_line = ", ".join(f"{item.title}{cite([item])}" for item in (day0, index0) if item is not None)
    if korean:
        lines.append(f"리포트 발표: {published} UTC → 기준일(0일차)은 발표 후 첫 종가가 나온 {base}이에요.")
        if reference:
            lines.append(f"- 참고(발표 전 마지막 종가): {reference}")
        if day0_line:
            lines.append(f"- 기준일: {day0_line}")
    else:
        lines.append(f"Report published {published} UTC → day 0 is {base}, the first close after publication.")
        if reference:
            lines.append(f"- Reference (last close before publication): {reference}")
        if day0_line:
            lines.append(f"- Day 0: {day0_line}")
    lines += _summary_lines(context, korean, cite)
    lines += [
        "",
        "수익률은 기준일 수정 종가 대비이고, 시장 대비는 주식 수익률에서 지수 수익률을 뺀 값이에요."
        if korean
        else "Returns are from day 0's adjusted close; versus the market is the stock's return minus the index's.",
        PAST_NOT_ADVICE_KO if korean else "This describes what happened; it is not investment advice.",
    ]
    return "\n".join(lines), cited


# --- the prompt ------------------------------------------------------------------------------
def prompt_lines(context: dict[str, Any] | None, items: list[PriceItem], *, first: int, korean: bool) -> list[str]:
    """The price section of the model's context: `items` numbered from `first`, then the moves."""
    if not context or not _has_data(context):
        period = f" ({context['base_date']} to {context['as_of']})" if context else ""
        return [
            f"Prices after the report{period}: no price data is stored for this period. If asked what the stock "
            "did, say that you have no price data for it; never invent prices or returns."
        ]
    numbers = {item.ref: n for n, item in enumerate(items, start=first)}
    lines = [
        f"Prices after the report (stored daily bars; day 0 = {context['base_date']}, the first close after "
        f"publication at {context['published_at']}; data through {context['as_of']}; returns use adjusted closes):"
    ]
    for n, item in enumerate(items, start=first):
        note = (
            "reference: the last close before publication, not an outcome"
            if item.reference
            else f"day {item.day}, adjusted close {item.adj_close:,.2f}"
        )
        lines.append(f"[{n}] {item.title} ({note})")

    def cite(used: list[PriceItem]) -> str:
        return " " + "".join(f"[{numbers[i.ref]}]" for i in used if i.ref in numbers) if used else ""

    lines.append(f"Moves after the report ({context['ticker']} vs {context['benchmark_name_en']}):")
    lines += _summary_lines(context, False, cite)
    return lines

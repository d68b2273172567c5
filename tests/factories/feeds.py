"""A corpus of feeds as they are published: every flavour × encoding × way of declaring the
charset, a feed mixing good items with one broken item of each kind, a feed of odd dates and
one of headlines with HTML escaped in every way feeds escape it.

The matrix tests (`tests/sources/test_rss_corpus.py`) and `benchmarks/feed_intake.py` serve the
same documents. Each newsroom writes several items with realistic headlines and descriptions in
its own language, about one ticker, so that the relevance filter keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from tests.servers.feeds import (
    DECLARATIONS,
    FeedDocument,
    FeedItem,
    atom_document,
    rdf_document,
    rss091_document,
    rss_document,
)

__all__ = [
    "CHARSETS",
    "FLAVOURS",
    "HTML_TITLES",
    "MIXED_FEED",
    "MIXED_FEED_DATES",
    "MIXED_FEED_DROPPED",
    "SHORT_HEADLINES",
    "ODD_DATES",
    "Charset",
    "CorpusFeed",
    "Newsroom",
    "charset_matrix",
    "html_titles_feed",
    "intake_corpus",
    "mixed_feed",
    "odd_dates_expected",
    "odd_dates_feed",
    "short_headline_feeds",
]

KST = timezone(timedelta(hours=9), "KST")
JST = timezone(timedelta(hours=9), "JST")
CST = timezone(timedelta(hours=8), "CST")  # Taipei


@dataclass(frozen=True)
class Newsroom:
    ticker: str
    language: str  # as the feed declares it: <language>, xml:lang, <dc:language>
    title: str
    items: tuple[FeedItem, ...]


def _items(site: str, zone: timezone, stories: list[tuple[str, str]]) -> tuple[FeedItem, ...]:
    return tuple(
        FeedItem(
            title,
            f"https://{site}/news/{n}",
            summary=summary,
            published=datetime(2026, 11, 24, 9 + n, 5 * n, tzinfo=zone),
        )
        for n, (title, summary) in enumerate(stories, start=1)
    )


KOREAN = Newsroom(
    "005930.KS",
    "ko",
    "한빛경제 증권",
    _items("news.hanbit.example", KST, [
        ("삼성전자, 3분기 영업이익 9조1천억원…반도체 부문 '깜짝 실적'",
         "삼성전자가 3분기 연결 기준 영업이익이 9조1천억원으로 잠정 집계됐다고 31일 공시했다. 메모리 가격 반등이 실적을 끌어올렸다."),
        ("삼성전자, 평택 P4 라인에 HBM4 생산설비 증설 검토",
         "업계에 따르면 삼성전자는 차세대 고대역폭메모리 수요에 대비해 평택 4공장 투자 일정을 앞당기는 방안을 검토하고 있다."),
        ("외국인 5거래일 연속 순매수…삼성전자 주가 7만원 회복",
         "유가증권시장에서 외국인은 이날 삼성전자를 3천200억원어치 사들였다. 주가는 전 거래일보다 2.1% 올랐다."),
        ('삼성전자 노사, 임금협상 잠정 합의 "성과급 기준 개선"',
         "삼성전자 노사가 올해 임금협상에서 잠정 합의안을 마련했다. 조합원 찬반 투표는 다음 주에 열린다."),
        ("[특징주] 삼성전자 우선주 2%↑ 배당 확대 기대감",
         "주주환원 정책 발표를 앞두고 삼성전자 우선주가 강세를 보였다. 증권가는 특별배당 가능성에 주목한다."),
    ]),
)  # fmt: skip

HYNIX = Newsroom(
    "000660.KS",
    "ko",
    "미래일보 산업",
    _items("www.mirae.example", KST, [
        ("SK하이닉스, HBM3E 12단 양산 돌입…엔비디아 공급 본격화",
         "SK하이닉스가 5세대 고대역폭메모리 12단 제품의 양산을 시작했다. 첫 물량은 이달 말 고객사에 공급된다."),
        ("SK하이닉스 주가 사상 최고치 경신, 시가총액 150조원 돌파",
         "SK하이닉스 주가가 장중 21만원을 넘어서며 사상 최고치를 다시 썼다. 인공지능 서버 투자 확대가 배경이다."),
        ('SK하이닉스, 청주 M15X 팹 조기 가동 "AI 메모리 수요 대응"',
         "SK하이닉스는 청주 신규 공장의 가동 시점을 내년 상반기로 앞당긴다고 밝혔다."),
        ('증권가 "SK하이닉스 목표주가 상향"…4분기 실적 전망 밝아',
         "국내 증권사 여섯 곳이 SK하이닉스의 목표주가를 일제히 올렸다. 4분기 영업이익 전망치는 10조원을 웃돈다."),
        ("SK하이닉스·삼성전자, D램 고정거래가격 석 달째 상승",
         "시장조사업체에 따르면 PC용 D램 고정거래가격이 석 달 연속 올랐다. 재고 소진 속도가 빨라졌다는 분석이다."),
    ]),
)  # fmt: skip

# Hangul syllables that CP949 (Unified Hangul Code) has and EUC-KR (KS X 1001) has not: 똠, 햏, 뷁, 쌰.
CP949_ONLY = Newsroom(
    "005930.KS",
    "ko",
    "햏햏 경제",
    _items("news.hheng.example", KST, [
        ("삼성전자 광고에 '똠방각하' 패러디…온라인서 화제",
         "삼성전자의 새 광고가 옛 드라마 똠방각하를 패러디해 조회수 500만회를 넘겼다."),
        ('"햏자들 모여라" 삼성전자 갤럭시 커뮤니티 행사 성황',
         "삼성전자가 연 팬 행사에 2천여 명이 몰렸다. 참가자들은 햏 인사로 서로를 맞았다."),
        ("삼성전자 신제품 발표회서 '뷁' 밈 등장해 웃음",
         "발표자가 화면에 뷁이라는 글자를 띄우자 객석에서 웃음이 터졌다. 쌰 하는 효과음도 곁들였다."),
        ("삼성전자, 美 텍사스 테일러 공장 가동 앞당긴다",
         "삼성전자는 미국 테일러 파운드리 공장의 가동 목표를 내년 하반기로 앞당겼다."),
        ('삼성전자 반도체 수장 "내년 HBM 점유율 회복 자신"',
         "삼성전자 반도체 부문장은 임직원 간담회에서 차세대 메모리 경쟁력 회복을 자신했다."),
    ]),
)  # fmt: skip

TAIWANESE = Newsroom(
    "TSM",
    "zh-tw",
    "財經新報",
    _items("news.caijing.example.tw", CST, [
        ("台積電（TSMC）10月營收年增逾三成，AI需求強勁",
         "台積電公布10月合併營收，較去年同期成長逾三成，主要受惠於人工智慧晶片訂單持續湧入。"),
        ("台積電（TSMC）美國亞利桑那廠量產，客戶包括蘋果與輝達",
         "台積電位於美國亞利桑那州的新廠正式量產，首批客戶涵蓋多家美國科技大廠。"),
        ("外資連續買超台積電（TSMC），股價再創歷史新高",
         "外資本週連續五個交易日買超台積電，帶動股價與台股加權指數同步走高。"),
        ("台積電（TSMC）董事會核准資本預算，擴建先進封裝產能",
         "台積電董事會今日核准約新台幣三千億元資本預算，用於擴充先進製程與封裝產能。"),
        ("台積電（TSMC）法說會：明年營收成長率估達兩成",
         "台積電於法人說明會表示，預估明年美元營收成長約兩成，毛利率維持五成以上。"),
    ]),
)  # fmt: skip

JAPANESE = Newsroom(
    "TM",
    "ja",
    "日経ビジネス速報",
    _items("news.sokuho.example.jp", JST, [
        ("トヨタ自動車、今期の営業利益見通しを上方修正",
         "トヨタ自動車（NYSE: TM）は通期の業績予想を引き上げた。円安とハイブリッド車の販売好調が寄与した。"),
        ("トヨタ自動車の世界販売、10月は前年比3％増",
         "トヨタ自動車（NYSE: TM）の10月の世界販売台数は前年同月を上回り、北米と中国で伸びた。"),
        ("トヨタ自動車、全固体電池の量産を2027年に前倒し",
         "トヨタ自動車（NYSE: TM）は次世代電池の量産開始時期を前倒しすると発表した。"),
        ("円安追い風、トヨタ自動車株が年初来高値を更新",
         "東京株式市場でトヨタ自動車（NYSE: TM）の株価が一時4％上昇し、年初来高値をつけた。"),
        ("トヨタ自動車とＮＴＴ、ＡＩ・通信分野で5000億円の共同投資",
         "トヨタ自動車（NYSE: TM）とＮＴＴは自動運転向けの人工知能と通信基盤に共同で投資する。"),
    ]),
)  # fmt: skip


@dataclass(frozen=True)
class Charset:
    """How a feed's bytes are written: `encoding` is the name declared, `written_as` the codec
    actually used when it differs (CP949 sent as "EUC-KR")."""

    id: str
    encoding: str
    newsroom: Newsroom
    written_as: str | None = None


CHARSETS: tuple[Charset, ...] = (
    Charset("utf-8", "UTF-8", KOREAN),
    Charset("euc-kr", "EUC-KR", HYNIX),
    Charset("cp949", "CP949", CP949_ONLY),
    Charset("cp949-as-euc-kr", "EUC-KR", CP949_ONLY, written_as="cp949"),
    Charset("utf-16-bom", "UTF-16", KOREAN),
    Charset("utf-16le", "UTF-16LE", JAPANESE),
    Charset("utf-16be", "UTF-16BE", TAIWANESE),
    Charset("big5", "Big5", TAIWANESE),
    Charset("shift_jis", "Shift_JIS", JAPANESE),
)

Builder = Callable[..., FeedDocument]


def _atom(newsroom: Newsroom, **options: object) -> FeedDocument:
    return atom_document(newsroom.title, list(newsroom.items), language=newsroom.language, **options)  # type: ignore[arg-type]


def _rss_like(build: Builder) -> Builder:
    def builder(newsroom: Newsroom, **options: object) -> FeedDocument:
        return build(newsroom.title, list(newsroom.items), language=newsroom.language, **options)

    return builder


FLAVOURS: dict[str, Builder] = {
    "rss2.0": _rss_like(rss_document),
    "atom1.0": _atom,
    "rss1.0": _rss_like(rdf_document),
    "rss0.91": _rss_like(rss091_document),
}


@dataclass(frozen=True)
class CorpusFeed:
    id: str
    ticker: str
    document: FeedDocument
    titles: tuple[str, ...]  # as written, of the items that should be stored
    summaries: tuple[str | None, ...]
    published: tuple[datetime | None, ...]  # in UTC; None: stored without a date


def charset_matrix() -> list[CorpusFeed]:
    """Every flavour × charset × declaration (a charset written as another is always declared)."""
    feeds = []
    for flavour, build in FLAVOURS.items():
        for charset in CHARSETS:
            for declare in DECLARATIONS:
                if charset.written_as and declare == "nowhere":
                    continue  # the same bytes as the charset it is written as, declared nowhere
                document = build(
                    charset.newsroom, encoding=charset.encoding, declare=declare, written_as=charset.written_as
                )
                items = charset.newsroom.items
                feeds.append(
                    CorpusFeed(
                        f"{flavour}-{charset.id}-{declare}",
                        charset.newsroom.ticker,
                        document,
                        tuple(i.title for i in items),
                        tuple(i.summary for i in items),
                        tuple(_utc(i.published) if flavour != "rss0.91" else None for i in items),  # 0.91: no dates
                    )
                )
    return feeds


# Few bytes, declared nowhere: a detector alone reads most of these as another encoding (Big5 as
# Shift_JIS, GB18030 as Big5); the feed's <language> says which encodings to choose among.
SHORT_HEADLINES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "big5": ("zh-TW", "TSM", ("台積電TSMC", "TSMC法說會", "外資買超TSMC", "台積電（TSMC）董事會")),
    "shift_jis": ("ja", "TM", ("トヨタ(NYSE:TM)続伸", "日経平均続伸 NYSE:TM", "円安 $TM")),
    "cp949": ("ko-KR", "005930.KS", ("햏 삼성전자", "똠방각하 삼성전자")),
    "gb18030": ("zh-CN", "BABA", ("阿里巴巴(BABA)", "腾讯与BABA", "BABA股价大涨")),
}
"""codec → (the feed's language, the ticker, one-item feeds' headlines)."""


def short_headline_feeds() -> list[CorpusFeed]:
    feeds = []
    for codec, (language, ticker, headlines) in SHORT_HEADLINES.items():
        for n, headline in enumerate(headlines, start=1):
            item = FeedItem(headline, f"https://short.example/{codec}/{n}")
            document = rss_document("t", [item], language=language, encoding=codec, declare="nowhere")
            feeds.append(CorpusFeed(f"short-{codec}-{n}", ticker, document, (headline,), (None,), (None,)))
    return feeds


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


# --- HTML in headlines, escaped the ways feeds escape it -----------------------------------------
HTML_TITLES: dict[str, str] = {
    "<![CDATA[&lt;b&gt;삼성전자&lt;/b&gt; 3분기 &amp;quot;어닝 서프라이즈&amp;quot;]]>": '삼성전자 3분기 "어닝 서프라이즈"',
    '<![CDATA[<b>삼성전자</b> 4분기 "어닝 쇼크"]]>': '삼성전자 4분기 "어닝 쇼크"',
    "&lt;b&gt;삼성전자&lt;/b&gt; 배당 &amp;quot;확대&amp;quot;": '삼성전자 배당 "확대"',
    "&#49340;&#49457;&#51204;&#51088; &#x2014; 신고가": "삼성전자 — 신고가",
    "<![CDATA[삼성전자&nbsp;자사주 매입]]>": "삼성전자 자사주 매입",
    "삼성전자, AT&amp;T·R&amp;D 제휴": "삼성전자, AT&T·R&D 제휴",
    "<![CDATA[삼성전자, P&G·S&P 500 편입설]]>": "삼성전자, P&G·S&P 500 편입설",
}
"""Headlines as written inside <title>, and as they should be stored."""


def html_titles_feed() -> FeedDocument:
    items = "".join(
        _item(written, f"https://titles.example.kr/{n}", None) for n, written in enumerate(HTML_TITLES, start=1)
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>제목 시험</title>'
        f"<language>ko</language>{items}</channel></rss>"
    )
    return FeedDocument(text.encode(), "application/rss+xml; charset=utf-8")


def intake_corpus() -> list[CorpusFeed]:
    """The charset matrix, the short headlines, the mixed, odd-dates and HTML-titles feeds: what
    the benchmark serves."""
    dates = odd_dates_expected()
    return [
        *charset_matrix(),
        *short_headline_feeds(),
        CorpusFeed("mixed", "AAPL", mixed_feed(), tuple(MIXED_FEED_DATES), (), tuple(MIXED_FEED_DATES.values())),
        CorpusFeed("odd-dates", "005930.KS", odd_dates_feed(), tuple(dates), (), tuple(dates.values())),
        CorpusFeed(
            "html-titles", "005930.KS", html_titles_feed(), tuple(HTML_TITLES.values()), (), (None,) * len(HTML_TITLES)
        ),
    ]


# --- one broken item of each kind among good ones ----------------------------------------------
def _item(title: str | None, link: str | None, pub_date: str | None) -> str:
    parts = ["<item>"]
    if title is not None:
        parts.append(f"<title>{title}</title>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if pub_date is not None:
        parts.append(f"<pubDate>{pub_date}</pubDate>")
    return "".join(parts) + "</item>"


MIXED_FEED_DATES: dict[str, datetime | None] = {
    "Apple opens a store in Seoul": datetime(2026, 11, 23, 0, 30, tzinfo=UTC),
    "Apple at the end of time": None,  # past the calendar in UTC: kept without a date
    "Apple before time": None,
    "Apple on a day nobody can read": None,
    "Apple raises its dividend": datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
}
"""The items of `MIXED_FEED` that are stored, with the date each is stored with."""

MIXED_FEED_DROPPED = {"bad_url": 4, "no_title": 2}
"""…and the others, by reason: a malformed link, a link that is not http(s) (ftp:, javascript:),
an item with no link at all; an item with no title and an empty item."""

MIXED_FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
    + _item("Apple opens a store in Seoul", "https://wire.example/apple-seoul", "Mon, 23 Nov 2026 09:30:00 +0900")
    + _item("Apple at the end of time", "https://wire.example/apple-9999", "Fri, 31 Dec 9999 23:59:59 -0100")
    + _item("Apple before time", "https://wire.example/apple-0001", "0001-01-01T00:30:00+01:00")
    + _item("Apple on a day nobody can read", "https://wire.example/apple-someday", "the day after tomorrow")
    + _item("Apple behind a broken link", "http://[::1/item", "Mon, 23 Nov 2026 10:00:00 +0000")
    + _item("Apple over FTP", "ftp://wire.example/apple", "Mon, 23 Nov 2026 10:00:00 +0000")
    + _item("Apple in a script", "javascript:alert('apple')", "Mon, 23 Nov 2026 10:00:00 +0000")
    + _item("Apple with nowhere to go", None, "Mon, 23 Nov 2026 10:00:00 +0000")
    + _item("", "https://wire.example/untitled", "Mon, 23 Nov 2026 10:00:00 +0000")
    + "<item></item>"
    + _item("Apple raises its dividend", "https://wire.example/apple-dividend", "Tue, 24 Nov 2026 08:00:00 +0000")
    + "</channel></rss>"
)


def mixed_feed() -> FeedDocument:
    return FeedDocument(MIXED_FEED.encode(), "application/rss+xml; charset=utf-8")


# --- dates as feeds write them ------------------------------------------------------------------
ODD_DATES: dict[str, datetime | None] = {
    "2004-05-25 오후 11:23:17": datetime(2004, 5, 25, 14, 23, 17, tzinfo=UTC),  # Nate, KST
    "2004-05-26 오전 12:05:00": datetime(2004, 5, 25, 15, 5, tzinfo=UTC),  # 오전 12시 is just after midnight
    "2004-05-26 오후 12:30:00": datetime(2004, 5, 26, 3, 30, tzinfo=UTC),  # 오후 12시 is noon
    "2004년 05월 28일 01:31:15": datetime(2004, 5, 27, 16, 31, 15, tzinfo=UTC),  # OnBlog, KST
    "Tue, 24 Nov 2026 08:00:00 PT": datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
    "Tue, 24 Nov 2026 08:00:00 MET": datetime(2026, 11, 24, 7, 0, tzinfo=UTC),
    "Tue, 24 Nov 2026 08:00:00 -0101": datetime(2026, 11, 24, 9, 1, tzinfo=UTC),
    "2026-11-24T08:00:00-01:01": datetime(2026, 11, 24, 9, 1, tzinfo=UTC),
    "2026-11-24T08:00:00+09:00": datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
    "2026-11-24T08:00:00": datetime(2026, 11, 24, 8, 0, tzinfo=UTC),  # no offset: UTC
    "2026-11-24T08:00:00.250Z": datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
    "Tue, 24 Nov 2026 08:00:00 KST": datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
    "Fri, 31 Dec 9999 23:59:59 -0100": None,  # past the calendar in UTC
    "Mon, 01 Jan 0001 00:30:00 +0100": None,  # before it
    "0001-01-01T00:30:00+01:00": None,
    "sometime soon": None,
}
"""Dates as real feeds write them, and the UTC instant each means (None: kept without a date)."""


def odd_dates_feed() -> FeedDocument:
    items = "".join(
        _item(f"삼성전자 소식 {n}", f"https://dates.example.kr/{n}", written)
        for n, written in enumerate(ODD_DATES, start=1)
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>날짜 시험</title>'
        f"<language>ko</language>{items}</channel></rss>"
    )
    return FeedDocument(text.encode(), "application/rss+xml; charset=utf-8")


def odd_dates_expected() -> dict[str, datetime | None]:
    """`odd_dates_feed`'s titles and the date each should be stored with."""
    return {f"삼성전자 소식 {n}": utc for n, utc in enumerate(ODD_DATES.values(), start=1)}

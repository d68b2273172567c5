"""The ticker registry: symbols, names in English and Korean, relevance, search queries."""

from __future__ import annotations

import pytest

from stockteacher.tickers.registry import (
    TickerError,
    TickerInfo,
    all_tickers,
    exact_matches,
    install_added,
    lookup,
    normalise_symbol,
    search,
)

# --- registry --------------------------------------------------------------------------------


def test_registry_has_at_least_100_tickers() -> None:
    tickers = all_tickers()
    assert len(tickers) >= 100
    assert len({t.symbol for t in tickers}) == len(tickers)


def test_registry_has_us_and_kr_tickers() -> None:
    tickers = all_tickers()
    us = [t for t in tickers if t.country == "US"]
    kr = [t for t in tickers if t.country == "KR"]
    assert us and kr
    assert any(t.symbol.endswith(".KS") for t in kr)
    assert all(t.symbol.endswith((".KS", ".KQ")) for t in kr)
    for symbol in ("AAPL", "MSFT", "NVDA", "TSLA", "BABA", "005930.KS", "000660.KS"):
        assert lookup(symbol).known, symbol


def test_every_ticker_has_english_and_korean_names() -> None:
    missing = [t.symbol for t in all_tickers() if not (t.name_en and t.name_ko)]
    assert missing == []


def test_registry_entries_carry_their_names() -> None:
    apple = lookup("AAPL")
    assert (apple.name_en, apple.name_ko, apple.country) == ("Apple", "애플", "US")
    samsung = lookup("005930.KS")
    assert (samsung.name_en, samsung.name_ko, samsung.country) == ("Samsung Electronics", "삼성전자", "KR")


# --- normalise_symbol ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("aapl", "AAPL"), ("  msft ", "MSFT"), ("brk.b", "BRK.B"), ("005930.ks", "005930.KS")]
)
def test_normalise_symbol_upper_cases(raw: str, expected: str) -> None:
    assert normalise_symbol(raw) == expected


def test_normalise_symbol_maps_bare_korean_code_to_registry_suffix() -> None:
    assert normalise_symbol("005930") == "005930.KS"
    assert normalise_symbol("000660") == "000660.KS"


def test_normalise_symbol_leaves_unknown_six_digit_code_bare() -> None:
    assert normalise_symbol("999999") == "999999"


@pytest.mark.parametrize("bad", ["", "   ", "AA PL", "DROP TABLE;", "AAPL;", "$AAPL", "A" * 16, "애플"])
def test_normalise_symbol_rejects_invalid_symbols(bad: str) -> None:
    with pytest.raises(TickerError):
        normalise_symbol(bad)


def test_ticker_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        lookup("DROP TABLE;")


# --- relevance -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Alibaba shares rose 3% in Hong Kong",
        "Traders piled into $BABA after earnings",
        "Alibaba Group Holding (NYSE: BABA) said on Monday",
        "알리바바, 클라우드 사업 분사",
    ],
)
def test_baba_matches_the_company(text: str) -> None:
    assert lookup("BABA").mentioned_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "Baba Vanga's prophecy for 2027 goes viral",
        "Local chef Baba opened a bistro by the river",
        "Chef Baba Okonkwo opens riverside bistro to long lines",
        "the baobab tree",
    ],
)
def test_baba_does_not_match_people_called_baba(text: str) -> None:
    assert not lookup("BABA").mentioned_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "Apple unveils a lighter headset",
        "애플 주가 사상 최고치",
        "애플이 인도 생산을 늘린다",
        "애플은 밝혔다",
        "Shares of AAPL slipped",
        "Apple Inc. said",
        "(NASDAQ: AAPL)",
    ],
)
def test_aapl_matches_the_company(text: str) -> None:
    assert lookup("AAPL").mentioned_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "apple pie recipe",
        "an apple a day",
        "Pineapple prices rise",
        "파인애플 가격 상승",
        "Snapple launches new flavour",
    ],
)
def test_aapl_does_not_match_fruit(text: str) -> None:
    assert not lookup("AAPL").mentioned_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "삼성전자가 HBM4 공급 계약을 체결했다",
        "삼성전자(005930) 주가 상승",
        "005930",
        "종목코드 005930 거래량 급증",
        "Samsung Electronics announces buyback",
        "$005930",
    ],
)
def test_samsung_matches_by_korean_name_and_code(text: str) -> None:
    assert lookup("005930.KS").mentioned_in(text)


@pytest.mark.parametrize("text", ["비삼성전자 계열사", "코드 1005930", "Samsung Biologics rises", "SK하이닉스 급등"])
def test_samsung_does_not_match_other_text(text: str) -> None:
    assert not lookup("005930.KS").mentioned_in(text)


def test_mentioned_in_checks_every_text_given() -> None:
    apple = lookup("AAPL")
    assert apple.mentioned_in(None, "Market wrap", "애플 주가")
    assert not apple.mentioned_in(None, "", "Market wrap")


# --- unknown tickers -------------------------------------------------------------------------


def test_unknown_ticker_lookup_returns_symbol_only_info() -> None:
    info = lookup("zzzq")
    assert info == TickerInfo(symbol="ZZZQ")
    assert not info.known
    assert (info.name_en, info.name_ko, info.aliases_en, info.aliases_ko) == (None, None, (), ())


def test_unknown_ticker_matches_by_upper_case_symbol() -> None:
    info = lookup("ZZZQ")
    assert info.mentioned_in("ZZZQ shares jumped 40%")
    assert info.mentioned_in("Buy $ZZZQ now")
    assert not info.mentioned_in("zzzq shares jumped")
    assert not info.mentioned_in("XZZZQ merger")


def test_unknown_ticker_query_is_its_symbol() -> None:
    assert lookup("ZZZQ").query("en") == "ZZZQ"
    assert lookup("ZZZQ").query("ko") == "ZZZQ"


# --- query -----------------------------------------------------------------------------------


def test_query_in_english_contains_english_name() -> None:
    query = lookup("AAPL").query("en")
    assert "Apple" in query
    assert "애플" not in query


def test_query_in_korean_is_korean_name() -> None:
    assert lookup("AAPL").query("ko") == "애플"
    assert lookup("005930.KS").query("ko") == "삼성전자"


def test_query_in_english_quotes_multi_word_names() -> None:
    assert '"Samsung Electronics"' in lookup("005930.KS").query("en")


# --- search and exact names ------------------------------------------------------------------


def symbols(found: list[TickerInfo]) -> list[str]:
    return [info.symbol for info in found]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("AAPL", "AAPL"),  # the symbol
        ("aapl", "AAPL"),
        ("apple", "AAPL"),  # the English name, any case
        ("애플", "AAPL"),  # the Korean name
        ("005930", "005930.KS"),  # a Korean code without its suffix
        ("삼성전자", "005930.KS"),
        ("삼성 전자", "005930.KS"),  # spaces inside a Korean name do not count
        ("삼성", "005930.KS"),  # a prefix: the largest company of those it starts first
        ("hathaway", "BRK.B"),  # the start of a later word of the name
        ("제이피모건", "JPM"),  # a Korean alias
        ("brk", "BRK.B"),  # a symbol prefix
    ],
)
def test_search_finds_by_symbol_name_alias_and_prefix(query: str, first: str) -> None:
    assert symbols(search(query))[0] == first


def test_search_ranks_exact_before_prefix_and_symbol_before_name() -> None:
    # "META" is a symbol and the English name of the same ticker; "MA" is Mastercard's symbol
    # and a prefix of Meta's: the exact symbol comes first.
    assert symbols(search("MA"))[0] == "MA"
    found = symbols(search("삼성", limit=50))
    assert len(found) >= 5 and all(lookup(s).name_ko.startswith("삼성") for s in found)
    # shorter names first within a tier: 삼성전자 (4 syllables) before 삼성바이오로직스 (8)
    assert found.index("005930.KS") < found.index("207940.KS")
    assert len(search("삼성", limit=2)) == 2


@pytest.mark.parametrize("query", ["", "   ", "AA PL", "$AAPL", "존재하지않는회사"])
def test_search_finds_nothing_for_empty_or_unknown_text(query: str) -> None:
    assert search(query) == []


def test_exact_matches_are_names_and_symbols_only() -> None:
    assert sorted(symbols(exact_matches("Alphabet"))) == ["GOOG", "GOOGL"]  # one name, two share classes
    assert symbols(exact_matches("구글")) == symbols(exact_matches("Google"))
    assert symbols(exact_matches(" samsung electronics ")) == ["005930.KS"]
    assert exact_matches("삼성") == []  # a prefix is not a name
    assert exact_matches("AA PL") == []  # spaces count inside a symbol


def test_added_entries_merge_over_the_bundled_ones() -> None:
    before = lookup("AAPL")
    install_added(
        [
            TickerInfo("AAPL", aliases_ko=("애플컴퓨터",)),
            TickerInfo("999999.KQ", exchange="KOSDAQ", country="KR", name_ko="가나다바이오", name_en="Ganada Bio"),
        ]
    )
    try:
        merged = lookup("AAPL")
        assert merged.name_en == before.name_en and merged.name_ko == before.name_ko
        assert merged.aliases_ko == (*before.aliases_ko, "애플컴퓨터")
        assert merged.mentioned_in("애플컴퓨터, 새 아이폰 공개")  # the relevance filter knows the alias
        assert symbols(search("가나다"))[0] == "999999.KQ" and lookup("999999").symbol == "999999.KQ"
        assert lookup("999999.KQ").mentioned_in("가나다바이오가 임상 결과를 발표했다")
    finally:
        install_added([])
    assert lookup("AAPL") == before and not lookup("999999.KQ").known

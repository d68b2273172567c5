"""Tickers operators add (`stockteacher tickers …`, the `tickers` table): stored, merged over
the bundled registry, seen by collect's relevance filter and by other processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from stockteacher.core.errors import InvalidRequest, NotFound
from stockteacher.ingest.collect import collect
from stockteacher.settings import Settings
from stockteacher.store.db import session_scope
from stockteacher.store.models import TickerEntry
from stockteacher.tickers import service
from stockteacher.tickers.registry import lookup
from stockteacher.tickers.service import AmbiguousTicker, TickerAddition

GANADA = TickerAddition("999999.KQ", name_en="Ganada Bio", name_ko="가나다바이오", aliases=("가나다", "GNDB"))


def test_added_ticker_is_found_resolved_and_removed(pg_dsn: str) -> None:
    with session_scope(pg_dsn) as db:
        info = service.add(GANADA, db_session=db)
    assert (info.exchange, info.country) == ("KOSDAQ", "KR")  # .KQ says so
    assert info.aliases_ko == ("가나다",) and info.aliases_en == ("GNDB",)  # sorted by script
    with session_scope(pg_dsn) as db:
        assert [t.symbol for t in service.search("가나다", limit=5, db_session=db)][0] == "999999.KQ"
        assert service.resolve("가나다바이오", db_session=db) == "999999.KQ"
        assert service.resolve("gndb", db_session=db) == "999999.KQ"
        service.remove("999999.kq", db_session=db)
    with session_scope(pg_dsn) as db:
        assert service.added(db_session=db) == []
        assert service.resolve("999999.KQ", db_session=db) == "999999.KQ"  # still a well-formed symbol
        with pytest.raises(NotFound):
            service.resolve("가나다바이오", db_session=db)


def test_aliases_for_a_bundled_ticker_keep_its_names(pg_dsn: str) -> None:
    bundled = lookup("035420.KS")
    with session_scope(pg_dsn) as db:
        service.add(TickerAddition("035420.ks", aliases=("엔에이치엔", "Naver Corporation")), db_session=db)
        merged = service.add(TickerAddition("035420.KS", aliases=("엔에이치엔", "네이버㈜")), db_session=db)
    assert (merged.name_ko, merged.name_en, merged.exchange) == (bundled.name_ko, bundled.name_en, bundled.exchange)
    assert merged.aliases_ko == (*bundled.aliases_ko, "엔에이치엔", "네이버㈜")  # no alias twice
    assert merged.aliases_en == (*bundled.aliases_en, "Naver Corporation")
    with session_scope(pg_dsn) as db:
        assert service.resolve("엔에이치엔", db_session=db) == "035420.KS"
        service.remove("035420.KS", db_session=db)
    assert lookup("035420.KS") == bundled


@pytest.mark.parametrize(
    ("addition", "words"),
    [
        (TickerAddition("ZZZZ"), "give it a name"),
        (TickerAddition("ZZ ZZ", name_en="Zed"), "invalid ticker"),
        (TickerAddition("ZZZZ", name_en="Zed", country="Korea"), "two-letter"),
        (TickerAddition("ZZZZ", name_en="Zed", exchange="New York!"), "--exchange"),
        (TickerAddition("ZZZZ", name_en="Zed\x00"), "printable"),
        (TickerAddition("ZZZZ", name_en="Z" * 201), "at most 200"),
    ],
)
def test_bad_additions_are_refused_and_store_nothing(pg_dsn: str, addition: TickerAddition, words: str) -> None:
    with session_scope(pg_dsn) as db, pytest.raises(InvalidRequest, match=words):
        service.add(addition, db_session=db)
    with session_scope(pg_dsn) as db:
        assert service.added(db_session=db) == []


def test_removing_what_was_never_added_is_not_found(pg_dsn: str) -> None:
    with session_scope(pg_dsn) as db, pytest.raises(NotFound, match="bundled tickers cannot be removed"):
        service.remove("AAPL", db_session=db)


@pytest.mark.parametrize(
    ("typed", "candidates"),
    [("Alphabet", {"GOOG", "GOOGL"}), ("구글", {"GOOG", "GOOGL"}), ("삼성", None), ("현대", None)],
)
def test_a_name_of_several_tickers_is_ambiguous_with_candidates(
    pg_dsn: str, typed: str, candidates: set[str] | None
) -> None:
    with session_scope(pg_dsn) as db, pytest.raises(AmbiguousTicker) as caught:
        service.resolve(typed, db_session=db)
    found = [info.symbol for info in caught.value.candidates]
    if candidates is not None:
        assert set(found) == candidates
    else:  # a partial name: the tickers it starts, best first
        assert len(found) >= 2 and all(any(n.startswith(typed) for n in lookup(s).names()) for s in found)
    assert caught.value.body()["candidates"][0]["ticker"] == found[0]


def test_other_processes_see_an_addition_within_the_refresh_time(pg_dsn: str) -> None:
    with session_scope(pg_dsn) as db:
        service.add(GANADA, db_session=db)
    # Another process's registry, simulated: the installed additions are forgotten.
    service.forget()
    assert not lookup("999999.KQ").known
    with session_scope(pg_dsn) as db:
        service.refresh(db)
    assert lookup("999999.KQ").name_ko == "가나다바이오"
    with session_scope(pg_dsn) as db:  # changed behind this process's back…
        db.execute(update(TickerEntry).values(name_ko="가나다제약"))
    with session_scope(pg_dsn) as db:
        service.refresh(db)  # …within REFRESH_SECONDS of the last reading: not read again
        assert lookup("999999.KQ").name_ko == "가나다바이오"
        service.refresh(db, max_age=0)
    assert lookup("999999.KQ").name_ko == "가나다제약"


def test_collect_finds_news_by_an_added_name(
    make_settings: Callable[..., Settings], pg_dsn: str, tmp_path: Path
) -> None:
    news = tmp_path / "news.jsonl"
    rows = [
        {"title": "가나다바이오, 항암제 임상 2상 성공", "url": "https://news.example.kr/1"},
        {"title": "GNDB shares jump on trial data", "url": "https://news.example.com/2"},
        {"title": "코스닥 바이오주 혼조", "url": "https://news.example.kr/3"},
    ]
    news.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    settings = make_settings(postgres_dsn=pg_dsn)
    before = collect("999999.KQ", "file", settings=settings, path=news)
    assert before.saved == 0  # only the bare symbol is known: nothing mentions it
    with session_scope(pg_dsn) as db:
        service.add(GANADA, db_session=db)
    service.forget()  # as a collector in another process would start
    after = collect("999999.KQ", "file", settings=settings, path=news)
    assert after.saved == 2  # the Korean name and the English alias; the market roundup is not about it


def _cli(*args: str, dsn: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "POSTGRES_DSN": dsn, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "stockteacher.cli", "tickers", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_tickers_cli_adds_lists_and_removes_as_the_readme_shows(pg_dsn: str, tmp_path: Path) -> None:
    added = _cli(
        "add", "950130.KQ", "--name-ko", "엑세스바이오", "--name-en", "Access Bio", "--alias", "액세스바이오",
        dsn=pg_dsn, cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "ticker 950130.KQ: 엑세스바이오 / Access Bio (exchange KOSDAQ; aliases: 액세스바이오)"
    alias = _cli("add", "AAPL", "--alias", "애플컴퓨터", dsn=pg_dsn, cwd=tmp_path)
    assert alias.returncode == 0 and alias.stdout.startswith("ticker AAPL: 애플 / Apple (exchange NASDAQ; aliases: ")
    assert "애플컴퓨터" in alias.stdout
    listed = _cli("list", "엑세스", "--json", dsn=pg_dsn, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout.strip().splitlines()[-1])
    assert rows[0] == {
        "ticker": "950130.KQ",
        "name_en": "Access Bio",
        "name_ko": "엑세스바이오",
        "exchange": "KOSDAQ",
        "country": "KR",
        "aliases": ["액세스바이오"],
    }
    plain = _cli("list", "엑세스", dsn=pg_dsn, cwd=tmp_path)
    assert plain.stdout.splitlines()[0].split() == ["950130.KQ", "KOSDAQ", "엑세스바이오", "/", "Access", "Bio", "액세스바이오"]
    additions = json.loads(_cli("list", "--added", "--json", dsn=pg_dsn, cwd=tmp_path).stdout)
    assert [r["ticker"] for r in additions] == ["950130.KQ", "AAPL"]  # by symbol
    removed = _cli("remove", "950130.KQ", dsn=pg_dsn, cwd=tmp_path)
    assert removed.returncode == 0 and removed.stdout.strip() == "ticker 950130.KQ: additions removed"
    assert json.loads(_cli("list", "엑세스", "--json", dsn=pg_dsn, cwd=tmp_path).stdout) == []


def test_tickers_cli_refuses_bad_input_with_exit_2_and_one_line(pg_dsn: str, tmp_path: Path) -> None:
    for args in (("add", "ZZZZ"), ("add", "ZZZZ", "--name-en", "Zed", "--country", "Korea"), ("remove", "AAPL")):
        result = _cli(*args, "--json", dsn=pg_dsn, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.strip().startswith("error: ")
        assert json.loads(result.stdout.strip().splitlines()[-1])["error_code"] == "bad_input"

"""Progress lines a person can follow: fed by a sweep's events, one line per stage, in place on
a terminal and plain (not one per ticker) elsewhere. No Ray here: the CLI on Ray is
tests/cluster/test_progress_cli.py."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from stockteacher.pipeline import (
    Analyzed,
    Collected,
    Notified,
    Planned,
    ProgressBoard,
    ProgressDisplay,
    Published,
    StageError,
    SweepProgress,
    run_pipeline,
    sweep_progress,
)
from stockteacher.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def plan(*tickers: str, stages: tuple[str, ...] = ("collect", "analyze", "publish", "notify")) -> Planned:
    return Planned("t1", stages, tuple((t, "sample") for t in tickers))


def test_a_sweep_in_this_process_ends_with_one_line_per_stage_at_n_of_n(
    sqlite_dsn: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(postgres_dsn=sqlite_dsn, analysis_provider="offline")  # news_api has no key
    stream = io.StringIO()
    with sweep_progress(stream=stream, interval=3600) as on_progress:
        result = run_pipeline(settings, [("AAPL", "sample"), ("TSLA", "sample"), ("NVDA", "news_api")],
                              on_progress=on_progress)  # fmt: skip
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["[collect]", "[analyze]", "[publish]", "[notify]"]
    saved = result.summary()["saved"]
    assert lines[0].startswith(f"[collect] 3/3 tickers · {saved} articles stored · 1 failed · done in ")
    assert lines[1].startswith("[analyze] 3/3 tickers · 2 new analyses · done in ")  # NVDA: nothing new
    assert lines[2].startswith("[publish] 2/2 analyses · 2 reports published · done in ")
    assert lines[3].startswith("[notify] planned 0 · sent 0 · retrying 0 · dead 0 · done in ")


def test_plain_lines_come_when_a_stage_ends_or_every_interval_never_one_per_ticker() -> None:
    clock = Clock()
    board = ProgressBoard(clock=clock)
    stream = io.StringIO()
    display = ProgressDisplay(board, stream=stream, mode="plain", interval=10)
    progress = SweepProgress(board, on_change=display.update)
    tickers = [f"T{i}" for i in range(100)]
    progress("sweep", plan(*tickers, stages=("collect",)))
    for i, ticker in enumerate(tickers):
        clock.now += 0.5  # 2 tickers a second
        progress("collect", Collected(ticker, "sample", 3, 2, 2))
        if i == 9:
            assert stream.getvalue() == ""  # 5 s in: nothing yet
    display.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5  # at 10, 20, 30 and 40 s, and the end at 50 s: not 100
    assert lines[0] == "[collect] 20/100 tickers · 40 articles stored · ETA 40.0 s"
    assert lines[-1] == "[collect] 100/100 tickers · 200 articles stored · done in 50.0 s"


def test_failures_count_as_done_and_publish_waits_for_analysis() -> None:
    board = ProgressBoard(clock=Clock())
    progress = SweepProgress(board)
    progress("sweep", plan("AAPL", "TSLA"))
    progress("collect", StageError("collect", "TSLA", "rateLimited", "429", "sample"))
    progress("collect", Collected("AAPL", "sample", 5, 5, 5))
    assert board.stage("collect").ended and board.stage("collect").failed == 1
    progress("analyze", Analyzed("AAPL", "saved", analysis_id=1))
    progress("publish", Published("AAPL", ("ins_1",)))
    assert not board.stage("publish").ended  # TSLA's analysis may still bring one
    progress("analyze", Analyzed.failed("TSLA", "daily_budget", "spent"))
    assert board.stage("publish").ended and board.stage("analyze").ended
    progress("notify", Notified("t1", planned=2, sent=2))
    assert board.lines() == [
        "[collect] 2/2 tickers · 5 articles stored · 1 failed · done in 0.0 s",
        "[analyze] 2/2 tickers · 1 new analyses · 1 failed · done in 0.0 s",
        "[publish] 1/1 analyses · 1 reports published · done in 0.0 s",
        "[notify] planned 2 · sent 2 · retrying 0 · dead 0 · done in 0.0 s",
    ]


def test_a_sweep_with_nothing_to_publish_ends_its_publish_line() -> None:
    board = ProgressBoard(clock=Clock())
    progress = SweepProgress(board)
    progress("sweep", plan("AAPL", stages=("analyze", "publish")))
    progress("analyze", Analyzed("AAPL", "no_articles"))
    assert board.stage("publish").ended and board.stage("publish").total == 0


def test_on_a_terminal_the_lines_are_redrawn_in_place_and_end_at_n_of_n() -> None:
    clock = Clock()
    stream = Terminal()
    with sweep_progress(stream=stream, header="worker logs: /tmp/x", clock=clock) as progress:
        assert progress is not None
        progress("sweep", plan("AAPL", "TSLA", stages=("collect", "analyze")))
        for ticker in ("AAPL", "TSLA"):
            clock.now += 1
            progress("collect", Collected(ticker, "sample", 3, 3, 3))
            progress("analyze", Analyzed(ticker, "saved", analysis_id=1))
    raw = stream.getvalue()
    assert raw.startswith("worker logs: /tmp/x\n")
    assert "\x1b[1A" in raw and "\x1b[2K" in raw  # cursor up, erase line: the same lines again
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "1/2 tickers" in frames
    last = frames.rstrip().splitlines()[-2:]
    assert "2/2 tickers · 6 articles stored · done in" in last[0] and last[0].startswith("collect")
    assert "2/2 tickers · 2 new analyses · done in" in last[1] and last[1].startswith("analyze")


def test_json_mode_shows_nothing() -> None:
    with sweep_progress(enabled=False) as progress:
        assert progress is None

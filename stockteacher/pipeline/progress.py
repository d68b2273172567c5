"""Progress a person can follow: one line per stage, fed by the work's real completion events.

- `ProgressBoard` — the figures: per stage, done / total in its unit, named counts (articles
  stored, reports published), failures, and an ETA from the stage's own rate so far. Pure,
  with an injectable clock; any long job can use it (`add`, `advance`, `finish`).
- `ProgressDisplay` — shows a board on a stream: redrawn in place on a terminal (rich's
  `Live`, which also keeps other stderr output above the lines), plain lines otherwise (a
  stage's line when it ends, and the changed lines at most every `interval` seconds — never
  one per ticker), or nothing (`--json`).
- `SweepProgress` — turns a `Sweep`'s events (its `on_progress`) into the board's lines:
  collect (tickers done / total, articles stored), analyze (tickers, new analyses),
  publish (reports published), notify.
- `sweep_progress(enabled=…)` — a display and its `SweepProgress` for one sweep.

Counts come from the events only; the clock is read for the ETA and elapsed time, never to
invent progress.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from stockteacher.pipeline.results import Analyzed, Collected, Notified, Planned, Published, StageError

__all__ = ["ProgressBoard", "ProgressDisplay", "StageLine", "SweepProgress", "sweep_progress"]

Clock = Callable[[], float]


@dataclass
class StageLine:
    """One stage's figures. `total` None: not known yet (shown as done so far)."""

    name: str
    unit: str
    total: int | None = None
    done: int = 0
    failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # label → value, in display order
    note: str = ""  # replaces the counts once set (e.g. the notifier's summary)
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def eta(self, now: float) -> float | None:
        """Seconds left at the stage's rate so far; None before its first item or after its end."""
        if self.ended or self.total is None or self.started_at is None or not 0 < self.done < self.total:
            return None
        elapsed = max(now - self.started_at, 1e-6)
        return (self.total - self.done) * elapsed / self.done

    def text(self, now: float) -> str:
        """`7/10 tickers · 140 articles stored · 1 failed · ETA 0:03`, without the stage name."""
        total = "" if self.total is None else f"/{self.total}"
        parts = [f"{self.done}{total} {self.unit}"] if self.unit else []
        if self.note:
            parts.append(self.note)
        else:
            parts.extend(f"{value} {label}" for label, value in self.counts.items())
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.ended and self.started_at is not None:
            parts.append(f"done in {_duration(self.ended_at - self.started_at)}")  # type: ignore[operator]
        else:
            eta = self.eta(now)
            if eta is not None:
                parts.append(f"ETA {_duration(eta)}")
            elif self.started_at is None:
                parts.append("waiting")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBoard:
    """Stages in the order added; every change bumps `version` (displays redraw on change).
    Thread-safe: a terminal display reads it from its refresh thread."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stages: dict[str, StageLine] = {}
        self.version = 0

    def now(self) -> float:
        return self._clock()

    def add(self, name: str, *, unit: str, total: int | None = None, counts: tuple[str, ...] = ()) -> None:
        """A stage, with the labels of its counts (shown at 0 until they move)."""
        with self._lock:
            self._stages[name] = StageLine(name, unit, total, counts=dict.fromkeys(counts, 0))
            self.version += 1

    def start(self, name: str) -> None:
        """The stage's work began (its ETA counts from here); once."""
        with self._lock:
            stage = self._stages[name]
            if stage.started_at is None:
                stage.started_at = self._clock()
                self.version += 1

    def advance(self, name: str, done: int = 1, *, failed: int = 0, **counts: int) -> None:
        """`done` more items (of which `failed` failed), and counts added by label
        (underscores read as spaces: `articles_stored=20`)."""
        with self._lock:
            stage = self._stages[name]
            if stage.started_at is None:
                stage.started_at = self._clock()
            stage.done += done
            stage.failed += failed
            for label, value in counts.items():
                key = label.replace("_", " ")
                if value or key in stage.counts:  # a count shows once it moves, or was declared
                    stage.counts[key] = stage.counts.get(key, 0) + value
            self.version += 1

    def set_total(self, name: str, total: int | None) -> None:
        with self._lock:
            self._stages[name].total = total
            self.version += 1

    def finish(self, name: str, *, note: str | None = None) -> None:
        """The stage ended (its line shows how long it took); once."""
        with self._lock:
            stage = self._stages[name]
            if stage.ended:
                return
            now = self._clock()
            stage.started_at = now if stage.started_at is None else stage.started_at
            stage.ended_at = now
            if note is not None:
                stage.note = note
            self.version += 1

    def stage(self, name: str) -> StageLine:
        with self._lock:
            return self._stages[name]

    def __contains__(self, name: str) -> bool:
        return name in self._stages

    def snapshot(self) -> list[tuple[str, bool, str, int | None, int]]:
        """`(name, ended, text, total, done)` per stage, as of now."""
        with self._lock:
            now = self._clock()
            return [(s.name, s.ended, s.text(now), s.total, s.done) for s in self._stages.values()]

    def lines(self) -> list[str]:
        """`[collect] 7/10 tickers · …`, one per stage."""
        return [f"[{name}] {text}" for name, _ended, text, _total, _done in self.snapshot()]


class ProgressDisplay:
    """Shows a `ProgressBoard` on `stream` (stderr): `mode` "auto" (in place on a terminal,
    plain lines otherwise), "live", "plain" or "off". Call `update()` after each change;
    `close()` leaves the final lines in view."""

    def __init__(
        self,
        board: ProgressBoard,
        *,
        stream: TextIO | None = None,
        mode: str = "auto",
        interval: float = 10.0,
        header: str | None = None,
    ) -> None:
        self.board = board
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if _is_terminal(self.stream) else "plain"
        if mode not in ("live", "plain", "off"):
            raise ValueError(f"mode must be auto, live, plain or off; got {mode!r}")
        self.mode = mode
        self.interval = interval
        self.header = header
        self._live: Any = None
        self._figures: dict[str, str] = {}  # plain mode: per stage, the figures last printed
        self._ended_printed: set[str] = set()
        self._printed_at = board.now()

    def open(self) -> ProgressDisplay:
        if self.mode == "off":
            return self
        if self.header:
            print(self.header, file=self.stream, flush=True)
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            # Other output to this terminal is printed above the lines; stdout is left alone
            # when it is not this terminal (a pipe keeps its JSON).
            self._live = Live(_BoardView(self.board), console=console, refresh_per_second=4, transient=False,
                              redirect_stdout=_is_terminal(sys.stdout))  # fmt: skip
            self._live.start()
        return self

    def update(self) -> None:
        """Redraw now (live), or print what is due (plain)."""
        if self.mode == "live" and self._live is not None:
            self._live.refresh()
        elif self.mode == "plain":
            self._print_plain(final=False)

    def close(self) -> None:
        if self.mode == "live" and self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        elif self.mode == "plain":
            self._print_plain(final=True)

    def _print_plain(self, *, final: bool) -> None:
        """A stage's line when it ends; while it runs, at most every `interval` seconds and
        only when its figures moved (the ETA alone is no news)."""
        now = self.board.now()
        due = final or now - self._printed_at >= self.interval
        for name, ended, text, _total, _done in self.board.snapshot():
            if name in self._ended_printed:
                continue
            figures = text.split(" · ETA ")[0]
            if ended or (due and not text.endswith("waiting") and self._figures.get(name) != figures):
                print(f"[{name}] {text}", file=self.stream, flush=True)
                self._figures[name] = figures
                if ended:
                    self._ended_printed.add(name)
        if due:
            self._printed_at = now

    def __enter__(self) -> ProgressDisplay:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    """A terminal that can redraw lines (not `TERM=dumb`, as in editors' shells)."""
    if os.environ.get("TERM", "") in ("dumb", "unknown"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no terminal
        return False


class _BoardView:
    """The board as rich renders it: a bar per stage that has a total, and its text."""

    def __init__(self, board: ProgressBoard) -> None:
        self.board = board

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        for name, ended, text, total, done in self.board.snapshot():
            # No total yet (or none at all): an empty bar until the stage ends, never a pulse
            # that moves by itself.
            bar = ProgressBar(total=total or 1, completed=done if total else int(ended), width=24)
            grid.add_row(Text(f"{name:<8}"), bar, Text(text))
        return grid


SWEEP_UNITS = {"collect": "tickers", "analyze": "tickers", "publish": "analyses", "notify": ""}


class SweepProgress:
    """A `Sweep`'s `on_progress`: its events onto a `ProgressBoard`, one line per stage.

    - collect: a ticker is done when the last of its collectors ended (failed or not);
    - analyze: begins with the first ticker ready for it; `new analyses` are the saved ones;
    - publish: one item per new analysis, ended once analysis has ended and all are published;
    - notify: the notifier's counts when it ran.
    """

    def __init__(self, board: ProgressBoard, *, on_change: Callable[[], None] | None = None) -> None:
        self.board = board
        self._on_change = on_change or (lambda: None)
        self._collecting: Counter[str] = Counter()
        self._collect_failed: set[str] = set()
        self._stages: tuple[str, ...] = ()

    def __call__(self, stage: str, event: Any) -> None:
        handler = getattr(self, f"_{stage}", None)
        if handler is not None:
            handler(event)
            self._on_change()

    def _sweep(self, plan: Planned) -> None:
        self._stages = plan.stages
        tickers = list(dict.fromkeys(t for t, _ in plan.pairs))
        self._collecting = Counter(t for t, _ in plan.pairs)
        if "collect" in plan.stages:
            self.board.add("collect", unit="tickers", total=len(tickers), counts=("articles stored",))
            self.board.start("collect")
        if "analyze" in plan.stages:
            self.board.add("analyze", unit="tickers", total=len(tickers), counts=("new analyses",))
            if "collect" not in plan.stages:
                self.board.start("analyze")
        if "publish" in plan.stages:
            total = None if "analyze" in plan.stages else 0  # grows with each new analysis
            self.board.add("publish", unit="analyses", total=total, counts=("reports published",))
        if "notify" in plan.stages:
            self.board.add("notify", unit="")
        self._end_empty()

    def _collect(self, outcome: Collected | StageError) -> None:
        ticker = outcome.ticker or ""
        if isinstance(outcome, StageError):
            self._collect_failed.add(ticker)
        self._collecting[ticker] -= 1
        if self._collecting[ticker] > 0:  # more sources of this ticker still running
            if isinstance(outcome, Collected):
                self.board.advance("collect", 0, articles_stored=outcome.saved)
            return
        saved = outcome.saved if isinstance(outcome, Collected) else 0
        self.board.advance("collect", 1, failed=int(ticker in self._collect_failed), articles_stored=saved)
        if "analyze" in self.board:
            self.board.start("analyze")
        self._end_if_complete("collect")

    def _analyze(self, outcome: Analyzed) -> None:
        saved = outcome.status == "saved"
        self.board.advance("analyze", 1, failed=int(not outcome.ok), new_analyses=int(saved))
        if saved and "publish" in self.board:
            publish = self.board.stage("publish")
            self.board.set_total("publish", (publish.total or 0) + 1)
            self.board.start("publish")
        if self._end_if_complete("analyze") and "publish" in self.board:
            publish = self.board.stage("publish")
            self.board.set_total("publish", publish.total or 0)
            self._end_if_complete("publish")

    def _publish(self, outcome: Published | StageError) -> None:
        if isinstance(outcome, StageError):
            self.board.advance("publish", 1, failed=1)
        else:
            self.board.advance("publish", 1, reports_published=len(outcome.published), drafts=len(outcome.drafts))
        self._end_if_complete("publish")

    def _notify(self, outcome: Notified | StageError) -> None:
        if isinstance(outcome, StageError):
            self.board.advance("notify", 0, failed=1)
            self.board.finish("notify", note=f"{outcome.error_code}")
        else:
            note = f"planned {outcome.planned} · sent {outcome.sent} · retrying {outcome.retried} · dead {outcome.dead}"
            self.board.finish("notify", note=note)

    def _end_if_complete(self, name: str) -> bool:
        stage = self.board.stage(name)
        upstream_open = name == "publish" and "analyze" in self.board and not self.board.stage("analyze").ended
        if stage.total is not None and stage.done >= stage.total and not upstream_open:
            self.board.finish(name)
            upstream = [s for s in ("collect", "analyze", "publish") if s in self.board]
            if "notify" in self.board and all(self.board.stage(s).ended for s in upstream):
                self.board.start("notify")  # it runs once everything else has ended
            return True
        return False

    def _end_empty(self) -> None:
        """Stages with nothing to do (no tickers) end at once."""
        for name in ("collect", "analyze", "publish"):
            if name in self.board:
                self._end_if_complete(name)


@contextlib.contextmanager
def sweep_progress(
    *,
    enabled: bool = True,
    stream: TextIO | None = None,
    mode: str = "auto",
    header: str | None = None,
    interval: float = 10.0,
    clock: Clock = time.monotonic,
) -> Iterator[SweepProgress | None]:
    """A display on `stream` (stderr) and the `SweepProgress` to pass as the sweep's
    `on_progress`; None when not `enabled` (`--json`: nothing but the JSON)."""
    if not enabled or mode == "off":
        yield None
        return
    board = ProgressBoard(clock=clock)
    display = ProgressDisplay(board, stream=stream, mode=mode, interval=interval, header=header)
    with display:
        yield SweepProgress(board, on_change=display.update)

"""Backfills from files: rows → normalised, relevant, de-duplicated articles, stored per ticker.

Plain Python and pyarrow, no Ray: `cluster.backfill` reads the input once with Ray Data, runs
`prepare_block` over its blocks in parallel, and hands the articles, grouped per ticker by
`TickerBuffers`, to `store_ticker`.

- `find_inputs(path)`: the files of a local file, a directory or a URI (`s3://…`, `file://…`),
  by format (Parquet, JSON Lines, CSV; a directory may mix them); `check_columns` reads only
  their headers (Parquet footers, CSV header lines, the first JSON line) and refuses a missing
  required column with one line (`InputError`, a `ValueError`: exit 2).
- `prepare_block(table, kind=…)`: one block's rows → a table of articles with their MinHash
  signatures, and one row per reason a row was dropped (with its count, in `n`), plus a
  `rows` row counting what the block read. The `--tickers` filter runs first, on the ticker
  column, before anything is normalised.

A bad row never stops the block it is in. Bad rows (`invalid`, counted per reason):
`no_ticker`, `bad_ticker` (not a symbol), `wrong_type` (a title or URL that is not text),
`malformed` (a JSON line that is not an object), and normalisation's own (`no_title`,
`bad_url`, …). Not bad, but not stored: `irrelevant` (does not mention the ticker) and
`duplicate` (the same (ticker, fingerprint) earlier in the block, or in the ticker's buffer).

De-duplication across blocks and across runs is the database's unique constraint on (ticker,
fingerprint) (`INSERT … ON CONFLICT DO NOTHING`): a rerun stores nothing, and `saved` counts
only rows really inserted. The keystore is not used: it is there to keep live collectors of
one ticker from doing one another's work, and a backfill has nobody to race but itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stockteacher.ingest.cluster import minhash_signatures
from stockteacher.ingest.normalize import InvalidArticle, NormalizedArticle, normalize_article
from stockteacher.ingest.repository import SaveResult, save_articles
from stockteacher.settings import Settings
from stockteacher.sources.files import ALIASES, FORMATS, REQUIRED, raw_article
from stockteacher.store.db import session_scope
from stockteacher.tickers.registry import TickerError, TickerInfo, install_added, lookup

__all__ = [
    "ARTICLES",
    "INVALID_REASONS",
    "InputError",
    "Inputs",
    "TickerBuffers",
    "Tally",
    "check_columns",
    "find_inputs",
    "prepare_block",
    "read_block",
    "store_ticker",
]

SOURCE_TYPE = "file"
OPTIONAL = ("description", "content", "published_at", "source_name", "language", "author", "ticker")
KNOWN = (*REQUIRED, *OPTIONAL)
ROWS = "rows"  # the drop row that counts what a block read
IRRELEVANT, DUPLICATE = "irrelevant", "duplicate"
NOT_BAD = frozenset({ROWS, IRRELEVANT, DUPLICATE})
INVALID_REASONS = ("no_ticker", "bad_ticker", "wrong_type", "malformed", "no_title", "bad_url", "bad_date")

ARTICLES = pa.schema(
    [
        ("ticker", pa.string()),
        ("fingerprint", pa.string()),
        ("canonical_url", pa.string()),
        ("url", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("body", pa.string()),
        ("author", pa.string()),
        ("source", pa.string()),
        ("language", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("minhash", pa.binary()),
        ("drop", pa.string()),  # set on the counting rows, whose other columns are null
        ("n", pa.int64()),
    ]
)
_ARTICLE_FIELDS = [f.name for f in ARTICLES][:11]


class InputError(ValueError):
    """The input cannot be backfilled as it is (no files, a format we do not read, a missing
    required column): one line that says what to do."""

    code = "bad_input"


# --- finding and checking the input ---------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The files to read, by format (`parquet`, `jsonl`, `csv`), on one filesystem."""

    filesystem: pafs.FileSystem
    files: dict[str, list[str]]
    skipped: list[str] = field(default_factory=list)  # files of a directory in no format we read
    columns: dict[str, list[str]] = field(default_factory=dict)  # per format: the columns we use

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.files.values())


def _kind(path: str) -> str | None:
    return FORMATS.get(PurePosixPath(path).suffix.lower())


def find_inputs(path: str) -> Inputs:
    """The files under `path`: a file, a directory (recursively; hidden and `_`-files skipped,
    as Parquet writers leave `_SUCCESS`), or a URI pyarrow can open (`s3://`, `file://`, …)."""
    if "://" in path:
        try:
            filesystem, root = pafs.FileSystem.from_uri(path)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise InputError(f"cannot open {path}: {exc}") from exc
    else:
        from pathlib import Path

        filesystem, root = pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())
    info = filesystem.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no such file or directory: {path}")
    if info.type != pafs.FileType.Directory:
        if _kind(root) is None:
            raise InputError(f"{path}: unsupported file type (use .parquet, .jsonl or .csv)")
        return Inputs(filesystem, {_kind(root) or "": [root]})
    files: dict[str, list[str]] = defaultdict(list)
    skipped: list[str] = []
    for entry in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        name = PurePosixPath(entry.path).name
        if entry.type != pafs.FileType.File or name.startswith((".", "_")):
            continue
        kind = _kind(entry.path)
        (files[kind] if kind else skipped).append(entry.path)
    if not files:
        raise InputError(f"{path}: no .parquet, .jsonl or .csv files in this directory")
    return Inputs(filesystem, {k: sorted(v) for k, v in files.items()}, sorted(skipped))


def _head(filesystem: pafs.FileSystem, path: str, size: int = 1 << 16) -> str:
    with filesystem.open_input_stream(path) as stream:
        return stream.read(size).decode("utf-8", errors="replace")


def _columns_of(filesystem: pafs.FileSystem, path: str, kind: str) -> list[str]:
    """A file's column names, from its header only."""
    try:
        if kind == "parquet":
            with filesystem.open_input_file(path) as handle:
                return list(pq.read_schema(handle).names)
        head = _head(filesystem, path)
        if kind == "csv":
            return next(csv.reader(io.StringIO(head.lstrip("\ufeff"))), [])
        for line in head.splitlines():
            if line.strip():
                record = json.loads(line)
                return list(record) if isinstance(record, dict) else []
        return []
    except (OSError, pa.ArrowException, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the header of {path}: {str(exc).splitlines()[0][:200]}") from exc


def check_columns(inputs: Inputs, *, tickers_given: bool) -> Inputs:
    """Refuse files without the required columns (for JSON Lines: in their first record), or
    without a ticker column when no tickers are given; the columns to read, per format."""
    used: dict[str, set[str]] = defaultdict(set)
    for kind, paths in inputs.files.items():
        common: set[str] | None = None
        for path in paths:
            names = _columns_of(inputs.filesystem, path, kind)
            renamed = {ALIASES.get(n, n) for n in names}
            missing = [c for c in REQUIRED if c not in renamed]
            name = PurePosixPath(path).name
            if missing:
                raise InputError(
                    f"{name} is missing required column(s) {', '.join(missing)}; "
                    f"it has: {', '.join(names) or 'no columns'}"
                )
            if "ticker" not in renamed and not tickers_given:
                raise InputError(f"{name} has no 'ticker' column; pass --tickers")
            ours = {n for n in names if ALIASES.get(n, n) in KNOWN}
            used[kind].update(ours)
            common = ours if common is None else common & ours
        if kind == "parquet":  # read as one dataset: only the columns every file has
            used[kind] = common or set()
    return Inputs(inputs.filesystem, inputs.files, inputs.skipped, {k: sorted(v) for k, v in used.items()})


# --- one block ------------------------------------------------------------------------------


_installed: list[tuple[TickerInfo, ...]] = [()]


def _use_registry(added: tuple[TickerInfo, ...]) -> None:
    """The operators' tickers and aliases (read by the driver) in this worker's registry."""
    if added != _installed[0]:
        install_added(added)
        _installed[0] = added
        _symbol.cache_clear()
        _info.cache_clear()


@lru_cache(maxsize=100_000)
def _symbol(value: str) -> str | None:
    try:
        return lookup(value).symbol
    except TickerError:
        return None


@lru_cache(maxsize=100_000)
def _info(symbol: str) -> TickerInfo:
    return lookup(symbol)  # one entry per ticker: its relevance patterns are compiled once


def _rows(table: pa.Table, kind: str, drops: Counter[str]) -> list[dict[str, Any]]:
    if kind != "jsonl":
        return table.to_pylist()
    rows = []
    for line in table.column("text").to_pylist():
        if not line or not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            rows.append(record)
        else:
            drops["malformed"] += 1
    return rows


def _filter_tickers(table: pa.Table, wanted: frozenset[str]) -> pa.Table:
    """Only the rows whose ticker is one of `wanted` (or unreadable, to be counted as bad)."""
    column = table.column("ticker")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        try:
            column = pc.cast(column, pa.string())
        except pa.ArrowException:  # not text or numbers: every row is counted as bad
            return table
    raw = [v for v in pc.unique(column).to_pylist() if v is not None]
    keep = [v for v in raw if _symbol(v) in wanted or _symbol(v) is None]
    mask = pc.or_kleene(pc.is_in(column, value_set=pa.array(keep, pa.string())), pc.is_null(column))
    return table.filter(pc.fill_null(mask, True))


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    return {ALIASES.get(k, k): v for k, v in row.items() if ALIASES.get(k, k) not in row or k not in ALIASES}


def prepare_block(
    table: pa.Table,
    *,
    kind: str,
    wanted: frozenset[str] | None = None,
    untagged: tuple[str, ...] = (),
    added: tuple[TickerInfo, ...] = (),
) -> pa.Table:
    """One block of input rows → articles (`ARTICLES`; see the module docstring). `wanted`:
    the `--tickers`; `untagged`: the tickers a row without a ticker column is read for;
    `added`: the operators' tickers and aliases, for the relevance check."""
    _use_registry(added)
    drops: Counter[str] = Counter()
    read = table.num_rows
    if wanted is not None and kind != "jsonl" and "ticker" in table.column_names:
        table = _filter_tickers(table, wanted)
    rows = _rows(table, kind, drops)
    kept: dict[tuple[str, str], NormalizedArticle] = {}
    for row in rows:
        row = _renamed(row)
        for symbol in _tickers_of(row, wanted=wanted, untagged=untagged, drops=drops):
            article = _article(row, symbol, drops)
            if article is None:
                continue
            key = (symbol, article.fingerprint)
            if key in kept:
                drops[DUPLICATE] += 1
            else:
                kept[key] = article
    articles = list(kept.values())
    signatures = minhash_signatures([a.as_text() for a in articles])
    columns: dict[str, list[Any]] = {name: [getattr(a, name) for a in articles] for name in _ARTICLE_FIELDS}
    columns["minhash"] = [s.astype("<u8").tobytes() for s in signatures]
    reasons = [(ROWS, read), *sorted(drops.items())]
    for name in [*_ARTICLE_FIELDS, "minhash"]:
        columns[name] += [None] * len(reasons)
    columns["drop"] = [None] * len(articles) + [r for r, _ in reasons]
    columns["n"] = [None] * len(articles) + [n for _, n in reasons]
    return pa.Table.from_pydict(columns, schema=ARTICLES)


def _tickers_of(
    row: dict[str, Any], *, wanted: frozenset[str] | None, untagged: tuple[str, ...], drops: Counter[str]
) -> tuple[str, ...]:
    if "ticker" not in row:
        return untagged
    value = row["ticker"]
    if value is None or (isinstance(value, str) and not value.strip()):
        drops["no_ticker"] += 1
        return ()
    if isinstance(value, bool) or not isinstance(value, str | int):
        drops["wrong_type"] += 1
        return ()
    symbol = _symbol(str(value))
    if symbol is None:
        drops["bad_ticker"] += 1
        return ()
    return (symbol,) if wanted is None or symbol in wanted else ()


def _article(row: dict[str, Any], symbol: str, drops: Counter[str]) -> NormalizedArticle | None:
    if any(row.get(c) is not None and not isinstance(row.get(c), str) for c in REQUIRED):
        drops["wrong_type"] += 1
        return None
    try:
        article = normalize_article(raw_article(row), ticker=symbol, source_type=SOURCE_TYPE)
    except InvalidArticle as exc:
        drops[exc.reason] += 1
        return None
    if not _info(symbol).mentioned_in(article.title, article.description, article.body):
        drops[IRRELEVANT] += 1
        return None
    return article


# --- the driver's side ----------------------------------------------------------------------


def read_block(table: pa.Table) -> tuple[list[tuple[NormalizedArticle, np.ndarray]], Counter[str]]:
    """A prepared block back as (article, signature) pairs and its drop counts."""
    drops: Counter[str] = Counter()
    out: list[tuple[NormalizedArticle, np.ndarray]] = []
    for row in table.to_pylist():
        if row["drop"] is not None:
            drops[row["drop"]] += row["n"]
            continue
        signature = np.frombuffer(row.pop("minhash"), dtype="<u8").astype(np.uint64)
        published: datetime | None = row["published_at"]
        article = NormalizedArticle(
            ticker=row["ticker"],
            fingerprint=row["fingerprint"],
            canonical_url=row["canonical_url"],
            url=row["url"],
            title=row["title"],
            description=row["description"],
            body=row["body"],
            author=row["author"],
            source=row["source"],
            source_type=SOURCE_TYPE,
            language=row["language"],
            published_at=published,
        )
        out.append((article, signature))
    return out, drops


class TickerBuffers:
    """Articles waiting to be stored, per ticker, de-duplicated by fingerprint; at most about
    `limit` in all, so that memory stays bounded whatever the input's size: `full` says when
    to `take` the largest tickers' articles and store them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._by_ticker: dict[str, dict[str, tuple[NormalizedArticle, np.ndarray]]] = defaultdict(dict)

    def add(self, article: NormalizedArticle, signature: np.ndarray) -> bool:
        """False for a fingerprint already waiting for this ticker (a duplicate)."""
        waiting = self._by_ticker[article.ticker]
        if article.fingerprint in waiting:
            return False
        waiting[article.fingerprint] = (article, signature)
        self.size += 1
        return True

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def take(self, *, down_to: int = 0) -> Iterator[tuple[str, list[tuple[NormalizedArticle, np.ndarray]]]]:
        """The largest tickers' articles, until at most `down_to` are left waiting."""
        while self.size > down_to and self._by_ticker:
            ticker = max(self._by_ticker, key=lambda t: len(self._by_ticker[t]))
            items = list(self._by_ticker.pop(ticker).values())
            self.size -= len(items)
            yield ticker, items


def store_ticker(
    settings: Settings, ticker: str, items: Iterable[tuple[NormalizedArticle, np.ndarray]], *, trace_id: str
) -> SaveResult:
    """Store one ticker's articles through the bulk path and cluster them into stories by
    their own dates, in one transaction."""
    pairs = list(items)
    with session_scope(settings.dsn) as session:
        return save_articles(
            session,
            ticker,
            [a for a, _ in pairs],
            [s for _, s in pairs],
            trace_id=trace_id,
            threshold=settings.story_similarity_threshold,
            window_hours=settings.story_window_hours,
            by_published_date=True,
        )


@dataclass
class Tally:
    """A backfill's counts so far, for its summary and its `job_runs` row."""

    rows: int = 0
    blocks: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    unique: int = 0
    saved: int = 0
    new_stories: int = 0
    stored: Counter[str] = field(default_factory=Counter)  # saved per ticker
    seen: set[str] = field(default_factory=set)  # tickers with an article to store

    def add_block(self, drops: Counter[str]) -> None:
        self.blocks += 1
        self.rows += drops.pop(ROWS, 0)
        self.drops.update(drops)

    def add_saved(self, ticker: str, offered: int, result: SaveResult) -> None:
        self.unique += offered
        self.saved += result.saved
        self.new_stories += result.new_stories
        self.stored[ticker] += result.saved
        self.seen.add(ticker)

    @property
    def invalid_reasons(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.drops.items()) if k not in NOT_BAD}

    def counts(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "blocks": self.blocks,
            "invalid": sum(self.invalid_reasons.values()),
            "invalid_reasons": self.invalid_reasons,
            "irrelevant": self.drops[IRRELEVANT],
            "duplicates": self.drops[DUPLICATE],
            "unique": self.unique,
            "saved": self.saved,
            "already_stored": self.unique - self.saved,
            "new_stories": self.new_stories,
            "tickers": len(self.seen),
        }

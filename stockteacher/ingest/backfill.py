"""Backfills from files: rows → normalised, relevant, de-duplicated articles, stored per ticker.

Plain Python and pyarrow, no Ray: `cluster.backfill` reads the input once with Ray Data, runs
`prepare_block` over its blocks in parallel, and hands the articles, grouped per ticker by
`groupby("ticker")`, to `store_group`.

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
`duplicate` (the same (ticker, fingerprint) earlier in the block, or in another block of
the ticker's group, `store_group`).

De-duplication across runs (and between concurrent backfills) is the database's unique constraint on (ticker,
fingerprint) (`INSERT … ON CONFLICT DO NOTHING`): a rerun stores nothing, and `saved` counts
only rows really inserted. The keystore is not used: it is there to keep live collectors of
one ticker from doing one another's work, and a backfill has nobody to race but itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    "STORED",
    "Tally",
    "check_columns",
    "find_inputs",
    "prepare_block",
    "read_block",
    "store_group",
    "store_ticker",
]

SOURCE_TYPE = "file"
OPTIONAL = ("description", "content", "published_at", "source_name", "language", "author", "ticker")
KNOWN = (*REQUIRED, *OPTIONAL)
ROWS = "rows"  # the drop row that counts what a block read
COUNTS = ""  # the "ticker" of the counting rows, which group together
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
        ("drop", pa.string()),  # set on the counting rows (ticker ""), whose other columns are null
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
    size_bytes: int = 0

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
        return Inputs(filesystem, {_kind(root) or "": [root]}, size_bytes=info.size or 0)
    files: dict[str, list[str]] = defaultdict(list)
    skipped: list[str] = []
    size = 0
    for entry in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        name = PurePosixPath(entry.path).name
        if entry.type != pafs.FileType.File or name.startswith((".", "_")):
            continue
        kind = _kind(entry.path)
        (files[kind] if kind else skipped).append(entry.path)
        size += (entry.size or 0) if kind else 0
    if not files:
        raise InputError(f"{path}: no .parquet, .jsonl or .csv files in this directory")
    return Inputs(filesystem, {k: sorted(v) for k, v in files.items()}, sorted(skipped), size_bytes=size)


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
    columns = {k: sorted(v) for k, v in used.items()}
    return Inputs(inputs.filesystem, inputs.files, inputs.skipped, columns, inputs.size_bytes)


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
        columns[name] += [COUNTS if name == "ticker" else None] * len(reasons)
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


# --- one ticker's group ----------------------------------------------------------------------


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


STORED = pa.schema(
    [
        ("ticker", pa.string()),
        ("offered", pa.int64()),
        ("saved", pa.int64()),
        ("new_stories", pa.int64()),
        ("drops", pa.string()),  # JSON: reason → count
    ]
)
STORE_CHUNK = 5000  # articles of one ticker per transaction


def store_group(table: pa.Table, *, settings: Settings, trace_id: str) -> pa.Table:
    """One ticker's prepared articles (or the counting rows, ticker ""): de-duplicated across
    blocks, stored in chunks of `STORE_CHUNK`, clustered; one `STORED` row saying so."""
    articles, drops = read_block(table)
    ticker = table.column("ticker")[0].as_py() if table.num_rows else COUNTS
    unique: dict[str, tuple[NormalizedArticle, np.ndarray]] = {}
    for article, signature in articles:
        if article.fingerprint in unique:
            drops[DUPLICATE] += 1
        else:
            unique[article.fingerprint] = (article, signature)
    items = sorted(unique.values(), key=lambda item: item[0].published_at or datetime.max.replace(tzinfo=UTC))
    saved = new_stories = 0
    for start in range(0, len(items), STORE_CHUNK):
        result = store_ticker(settings, ticker, items[start : start + STORE_CHUNK], trace_id=trace_id)
        saved += result.saved
        new_stories += result.new_stories
    row = {"ticker": ticker, "offered": len(items), "saved": saved, "new_stories": new_stories}
    return pa.Table.from_pylist([{**row, "drops": json.dumps(dict(drops))}], schema=STORED)


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
    drops: Counter[str] = field(default_factory=Counter)
    unique: int = 0
    saved: int = 0
    new_stories: int = 0
    stored: Counter[str] = field(default_factory=Counter)  # saved per ticker
    seen: set[str] = field(default_factory=set)  # tickers with an article to store

    def add_stored(self, row: dict[str, Any]) -> None:
        """One `store_group` row."""
        drops = Counter(json.loads(row["drops"]))
        self.rows += drops.pop(ROWS, 0)
        self.drops.update(drops)
        if row["ticker"] == COUNTS:
            return
        self.unique += row["offered"]
        self.saved += row["saved"]
        self.new_stories += row["new_stories"]
        self.stored[row["ticker"]] += row["saved"]
        self.seen.add(row["ticker"])

    @property
    def invalid_reasons(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.drops.items()) if k not in NOT_BAD}

    def counts(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
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

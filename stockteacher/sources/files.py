"""Articles from JSON Lines, CSV or Parquet files through polars (backfills, the sample set).

Required columns: `title`, `url`. Optional: `description`, `content` (or `body`),
`published_at` (or `publishedAt`), `source_name` (or `source`), `language`, `author`, and
`ticker`: when present, only that ticker's rows are read. A missing required column is a
`MalformedResponseError` that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from stockteacher.sources.base import MalformedResponseError, RawArticle, SourceConfigError
from stockteacher.tickers.registry import TickerInfo, normalise_symbol

__all__ = ["ALIASES", "FORMATS", "REQUIRED", "FileSource", "raw_article", "read_articles"]

REQUIRED = ("title", "url")
ALIASES = {
    "body": "content",
    "publishedAt": "published_at",
    "published": "published_at",
    "source": "source_name",
    "link": "url",
}
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _read_frame(path: Path, *, source: str) -> pl.DataFrame:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SourceConfigError(
            f"{source}: {path.name}: unsupported file type {path.suffix!r} (use .jsonl, .csv or .parquet)",
            source=source,
            code="unsupported_format",
        )
    if not path.is_file():
        raise SourceConfigError(f"{source}: no such file: {path}", source=source, code="file_not_found")
    try:
        if kind == "jsonl":
            return pl.read_ndjson(path, infer_schema_length=None)
        if kind == "csv":
            return pl.read_csv(path, infer_schema_length=0)  # every column as text
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise MalformedResponseError(f"{source}: cannot read {path.name}: {exc}", source=source) from exc


def read_articles(path: Path, *, ticker: TickerInfo | None, source: str = "file") -> list[RawArticle]:
    """Read the articles in `path` (for `ticker`, when the file has a ticker column)."""
    frame = _read_frame(path, source=source)
    frame = frame.rename(
        {old: new for old, new in ALIASES.items() if old in frame.columns and new not in frame.columns}
    )
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise MalformedResponseError(
            f"{source}: {path.name} is missing required column(s) {', '.join(missing)}; "
            f"it has: {', '.join(frame.columns) or 'no columns'}",
            source=source,
            code="missing_column",
        )
    if ticker is not None and "ticker" in frame.columns:
        symbols = frame.get_column("ticker").cast(pl.Utf8)
        wanted = [_safe_normalise(s) == ticker.symbol for s in symbols.to_list()]
        frame = frame.filter(pl.Series(wanted, dtype=pl.Boolean))
    rows = frame.to_dicts()
    return [raw_article(row) for row in rows]


def _safe_normalise(value: Any) -> str | None:
    try:
        return normalise_symbol(str(value)) if value is not None else None
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def raw_article(row: dict[str, Any]) -> RawArticle:
    """One row (columns already renamed by `ALIASES`) as the `RawArticle` it stands for."""
    published = row.get("published_at")
    return RawArticle(
        title=_text(row.get("title")),
        url=_text(row.get("url")),
        description=_text(row.get("description")),
        body=_text(row.get("content")),
        source_name=_text(row.get("source_name")),
        published_at=published if hasattr(published, "tzinfo") else _text(published),
        language=_text(row.get("language")),
        author=_text(row.get("author")),
    )


class FileSource:
    """`file`: a path from `FILE_SOURCE_PATH` (or given explicitly); `{ticker}` is substituted."""

    name = "file"

    def __init__(self, path: str | Path | None) -> None:
        self.path = str(path) if path else None

    async def fetch(self, ticker: TickerInfo) -> list[RawArticle]:
        if not self.path:
            raise SourceConfigError("file: no path given (use --path or FILE_SOURCE_PATH)", source=self.name)
        return read_articles(Path(self.path.replace("{ticker}", ticker.symbol)), ticker=ticker, source=self.name)

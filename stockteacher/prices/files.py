"""`file`: daily OHLCV bars from CSV or Parquet files through polars (history backfills).

Columns (case-insensitive): `date` (or `trading_date`), `close`, and optionally `symbol` (or
`ticker`), `open`, `high`, `low`, `adj_close` (or `adjclose`, `Adj Close`), `volume`,
`currency`. A file without a symbol column holds one symbol: its name (`AAPL.csv`). A
directory holds one file per symbol or several mixed ones. Rows whose date or close cannot be
read are skipped and counted (`FilePriceSource.skipped`); a missing required column is an
error that names it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from stockteacher.prices.base import Bar
from stockteacher.sources.base import MalformedResponseError, SourceConfigError

__all__ = ["FilePriceSource", "read_bars"]

NAME = "file"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ALIASES = {
    "trading_date": "date",
    "ticker": "symbol",
    "adjclose": "adj_close",
    "adj close": "adj_close",
    "adjusted_close": "adj_close",
}
NUMERIC = ("open", "high", "low", "close", "adj_close")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in FORMATS)
    if not path.is_file():
        raise SourceConfigError(f"{NAME}: no such file or directory: {path}", source=NAME, code="file_not_found")
    if path.suffix.lower() not in FORMATS:
        raise SourceConfigError(
            f"{NAME}: {path.name}: unsupported file type {path.suffix!r} (use .csv or .parquet)",
            source=NAME,
            code="unsupported_format",
        )
    return [path]


def _frame(path: Path) -> pl.DataFrame:
    try:
        if FORMATS[path.suffix.lower()] == "csv":
            frame = pl.read_csv(path, infer_schema_length=0)
        else:
            frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise MalformedResponseError(f"{NAME}: cannot read {path.name}: {exc}", source=NAME) from exc
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    frame = frame.rename(
        {old: new for old, new in ALIASES.items() if old in frame.columns and new not in frame.columns}
    )
    missing = [c for c in ("date", "close") if c not in frame.columns]
    if missing:
        raise MalformedResponseError(
            f"{NAME}: {path.name}: missing column(s) {', '.join(missing)}", source=NAME, code="missing_column"
        )
    if "symbol" not in frame.columns:
        frame = frame.with_columns(pl.lit(path.stem.upper()).alias("symbol"))
    columns = [
        pl.col("symbol").cast(pl.String).str.strip_chars().str.to_uppercase(),
        pl.col("date").cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
    ]
    for name in NUMERIC:
        if name in frame.columns:
            columns.append(pl.col(name).cast(pl.String).str.replace_all(",", "").cast(pl.Float64, strict=False))
        else:
            columns.append(pl.lit(None, dtype=pl.Float64).alias(name))
    if "volume" in frame.columns:
        columns.append(
            pl.col("volume").cast(pl.String).str.replace_all(",", "").cast(pl.Float64, strict=False).cast(pl.Int64)
        )
    else:
        columns.append(pl.lit(None, dtype=pl.Int64).alias("volume"))
    columns.append(
        pl.col("currency").cast(pl.String) if "currency" in frame.columns else pl.lit(None, pl.String).alias("currency")
    )
    frame = frame.select(columns)
    return frame.with_columns(pl.coalesce("adj_close", "close").alias("adj_close"))


def read_bars(path: str | Path, symbol: str | None = None) -> tuple[list[Bar], int]:
    """Every bar in `path` (of `symbol` only, when given), and how many rows were unreadable."""
    bars: list[Bar] = []
    skipped = 0
    for file in _files(Path(path)):
        frame = _frame(file)
        if symbol is not None:
            frame = frame.filter(pl.col("symbol") == symbol.upper())
        good = frame.filter(
            pl.col("date").is_not_null() & pl.col("close").is_not_null() & (pl.col("close") > 0)
            & pl.col("adj_close").is_not_null() & (pl.col("adj_close") > 0)
        )  # fmt: skip
        skipped += frame.height - good.height
        for row in good.iter_rows(named=True):
            bars.append(Bar(
                symbol=row["symbol"], trading_date=row["date"], open=row["open"], high=row["high"],
                low=row["low"], close=row["close"], adj_close=row["adj_close"], volume=row["volume"],
                currency=row["currency"],
            ))  # fmt: skip
    return bars, skipped


class FilePriceSource:
    name = NAME

    def __init__(self, path: str | Path | None) -> None:
        if not path:
            raise SourceConfigError(
                f"{NAME}: set PRICE_FILE_PATH (or pass --path) to a CSV/Parquet file or directory",
                source=NAME,
                code="not_configured",
            )
        self.path = Path(path)
        self.skipped = 0

    async def fetch(self, symbol: str, start: date, end: date) -> list[Bar]:
        bars, skipped = read_bars(self.path, symbol)
        self.skipped += skipped
        latest: dict[date, Bar] = {b.trading_date: b for b in bars if start <= b.trading_date <= end}
        return [latest[d] for d in sorted(latest)]

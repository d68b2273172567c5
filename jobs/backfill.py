"""Backfill from a file: JSONL, CSV or Parquet (polars), every ticker in it collected and
analysed in parallel, progress on stderr.

    python jobs/backfill.py --path news.parquet [--tickers AAPL,TSLA]
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="the file; needs title and url columns (and ticker)")
    parser.add_argument("--tickers", help="comma-separated; default: every value of the file's ticker column")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import backfill_job

    return run(lambda: backfill_job(args.path, tickers=args.tickers, address=args.address))


if __name__ == "__main__":
    sys.exit(main())

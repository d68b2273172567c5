"""Backfill from files on Ray Data: a file, a directory of files or a URI (`s3://…`,
`file://…`) of Parquet, JSON Lines or CSV (a directory may mix them), read once; every ticker
in it is normalised, de-duplicated, stored and clustered, then analysed and published per
ticker. Bad rows are counted per reason in the summary, never fatal; progress on stderr, the
JSON summary last on stdout.

    python jobs/backfill.py --path news.parquet [--tickers AAPL,TSLA] [--no-analyze]
    python jobs/backfill.py --path s3://bucket/news/ --address auto
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--path", required=True, help="file, directory or URI; needs title and url columns (and ticker)"
    )
    parser.add_argument("--tickers", help="comma-separated; default: every value of the files' ticker column")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--no-analyze", action="store_true", help="store only; analyse later with jobs/analyze.py")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import backfill_job

    return run(
        lambda: backfill_job(
            args.path,
            tickers=args.tickers,
            address=args.address,
            analyze=not args.no_analyze,
        )
    )


if __name__ == "__main__":
    sys.exit(main())

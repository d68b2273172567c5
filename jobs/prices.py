"""Daily prices for tickers and their market benchmarks (^GSPC for US tickers, ^KS11 for KRX).

python jobs/prices.py --tickers AAPL,005930.KS --from 2025-01-01 --to 2026-11-30
python jobs/prices.py --tickers AAPL --source file --path prices/   # CSV/Parquet OHLCV files
python jobs/prices.py                                               # the schedules' tickers, missing days only

Without --from/--to each symbol gets its missing days up to the last closed session. Re-running
replaces a day's bar, never duplicates it. --source: yahoo (default), file, sample.
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", help="comma-separated (default: COLLECTION_SCHEDULES' tickers)")
    parser.add_argument("--from", dest="start", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", help="last day, YYYY-MM-DD")
    parser.add_argument("--source", choices=("yahoo", "file", "sample"))
    parser.add_argument("--path", help="the file or directory for --source file (default: PRICE_FILE_PATH)")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import prices_job

    return run(lambda: prices_job(args.tickers, start=args.start, end=args.end, source=args.source,
                                  path=args.path, address=args.address))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

"""Collection only: one Ray task per ticker.

python jobs/collect.py --tickers AAPL,005930.KS --source news_api
"""

from __future__ import annotations

import argparse
import sys

from _common import run

from stockteacher.core.vocabulary import SOURCES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", help="comma-separated; default: the enabled COLLECTION_SCHEDULES tickers")
    parser.add_argument("--source", default="sample", choices=SOURCES)
    parser.add_argument("--path", help="the file for --source file")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--verbose", action="store_true", help="stream the Ray workers' logs to the console too")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import collect_job

    return run(
        lambda: collect_job(
            args.tickers, source=args.source, path=args.path, address=args.address, verbose=args.verbose
        )
    )


if __name__ == "__main__":
    sys.exit(main())

"""Analysis only (then publishing), through the rate-limited analyzer pool.

python jobs/analyze.py --tickers AAPL,TSLA
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", help="comma-separated; default: the enabled COLLECTION_SCHEDULES tickers")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--verbose", action="store_true", help="stream the Ray workers' logs to the console too")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import analyze_job

    return run(lambda: analyze_job(args.tickers, address=args.address, verbose=args.verbose))


if __name__ == "__main__":
    sys.exit(main())

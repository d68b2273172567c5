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
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import analyze_job

    return run(lambda: analyze_job(args.tickers, address=args.address))


if __name__ == "__main__":
    sys.exit(main())

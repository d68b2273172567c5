"""One full pipeline sweep on Ray: collect → analyze → publish.

python jobs/run_once.py --tickers AAPL,TSLA [--source sample]
ray job submit --working-dir . -- python jobs/run_once.py --tickers AAPL,TSLA
"""

from __future__ import annotations

import argparse
import sys

from _common import run

from stockteacher.core.vocabulary import SOURCES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickers", help="comma-separated; default: the enabled COLLECTION_SCHEDULES tickers")
    parser.add_argument("--source", default="sample", choices=[s for s in SOURCES if s != "file"])
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--verbose", action="store_true", help="stream the Ray workers' logs to the console too")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import run_once_job

    return run(lambda: run_once_job(args.tickers, source=args.source, address=args.address, verbose=args.verbose))


if __name__ == "__main__":
    sys.exit(main())

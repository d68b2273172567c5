"""Publish every analysis that has no report yet (idempotent).

python jobs/publish.py [--ticker AAPL]
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticker")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import publish_job

    return run(lambda: publish_job(args.ticker, address=args.address))


if __name__ == "__main__":
    sys.exit(main())

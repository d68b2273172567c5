"""The track record: for every published report, what its stock did next against its market.

python jobs/evaluate.py

Outcomes at +1, +5 and +20 trading days from the first close after publication (never a price
the report could have seen), from the bars in the database (jobs/prices.py, or the sweeps);
then the per-ticker and overall hit rates with Wilson 95 % intervals, stored for the API.
Idempotent: a known outcome is written once; run it as often as you like.
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import evaluate_job

    return run(lambda: evaluate_job(address=args.address))


if __name__ == "__main__":
    sys.exit(main())

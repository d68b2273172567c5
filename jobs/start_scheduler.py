"""Start the cluster's scheduler actor (named, detached: it outlives this job).

ray job submit --working-dir . -- python jobs/start_scheduler.py
python jobs/start_scheduler.py --stop | --status
"""

from __future__ import annotations

import argparse
import sys

from _common import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--stop", action="store_true", help="stop and remove the scheduler")
    group.add_argument("--status", action="store_true", help="show the scheduler's status")
    parser.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else a local Ray)")
    args = parser.parse_args(argv)
    from stockteacher.cluster.entrypoints import scheduler_command

    action = "stop" if args.stop else "status" if args.status else "start"
    return run(lambda: scheduler_command(action, address=args.address))


if __name__ == "__main__":
    sys.exit(main())

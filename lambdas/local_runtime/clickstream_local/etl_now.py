"""Run the ETL once now against the local platform (`make etl-now`), replay its quarantined raw objects
(`make etl-replay [KEY=...]`), rebuild the aggregates of some days (`make etl-rebuild FROM=... TO=...`), or export
the warehouse's history into the lake (`make lake-backfill`).

Uses the settings the `etl` role wrote (``/var/lib/clickstream-analytics/etl/etl.env``, or ``--env-file``) and
calls the same Lambda handler the scheduler calls (``--replay``: the CLI's ``replay``). Prints the run summary as
JSON; exit code 1 if it failed (for a replay: also if an object failed again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .etl_scheduler import DEFAULT_ENV_FILE, LocalContext, load_env_file


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--env-file", default=os.environ.get("CLICKSTREAM_ETL_ENV_FILE", DEFAULT_ENV_FILE))
    p.add_argument("--timeout-seconds", type=int, default=900, help="time budget, like the Lambda timeout")
    p.add_argument("--replay", nargs="?", const="", metavar="KEY",
                   help="replay the quarantined object KEY, or every open one without KEY (docs/warehouse.md)")
    p.add_argument("--lake-backfill", action="store_true",
                   help="export the warehouse's events and sessions into the lake (docs/lake.md)")
    p.add_argument("--rebuild", nargs=2, metavar=("FROM", "TO"),
                   help="recompute every aggregate of the days FROM..TO (YYYY-MM-DD, included; docs/warehouse.md)")
    args = p.parse_args(argv)
    if not os.path.exists(args.env_file):
        print(f"{args.env_file} not found: provision the local platform first (make up, or site.yml --tags etl)",
              file=sys.stderr)
        return 2
    load_env_file(args.env_file)
    if args.lake_backfill:
        from clickstream_etl.__main__ import main as cli

        return cli(["lake-backfill"])
    if args.rebuild is not None:
        from clickstream_etl.__main__ import main as cli

        return cli(["rebuild", "--from", args.rebuild[0], "--to", args.rebuild[1]])
    if args.replay is not None:
        from clickstream_etl.__main__ import main as cli

        return cli(["replay", "--key", args.replay] if args.replay else ["replay", "--all"])
    from clickstream_etl.handler import EtlFailed, handler

    try:
        result = handler({"trigger": "etl-now"}, LocalContext(args.timeout_seconds))
    except EtlFailed as exc:
        print(json.dumps({"status": "failed", "error": str(exc)}))
        return 1
    print(json.dumps(result, default=str))
    return 0 if result.get("status") != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())

"""CLI: ``python -m clickstream_etl [options]`` runs the ETL once, with the Lambda's environment variables;
``python -m clickstream_etl replay (--key KEY | --all) [options]`` loads quarantined objects after a fix;
``python -m clickstream_etl rebuild --from DAY --to DAY [options]`` recomputes every aggregate of those days;
``python -m clickstream_etl lake-backfill [options]`` exports the warehouse's history into the lake (docs/lake.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date

from .config import ConfigError, settings_from_env, with_overrides
from .handler import EtlFailed, lake_backfill_once, rebuild_once, replay_once, run_once
from .metrics import RunMetrics


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m clickstream_etl",
                                description="Load pending raw clickstream objects from S3 into the warehouse. "
                                            "Settings come from the environment (as in the Lambda); flags "
                                            "override them. The password is read from the SSM parameter "
                                            "named by DW_PASSWORD_PARAMETER. 'replay' loads quarantined "
                                            "objects (etl.quarantine) again, exactly once, after a fix. "
                                            "'rebuild' recomputes every aggregate of some days from the "
                                            "warehouse's events (docs/warehouse.md).")
    p.add_argument("command", nargs="?", choices=("run", "replay", "rebuild", "lake-backfill"), default="run",
                   help="run (default): load the pending objects; replay: load quarantined objects; rebuild: "
                        "recompute the aggregates of --from..--to; lake-backfill: export the warehouse's "
                        "events and sessions into the lake (LAKE_ENABLED=true)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--key", help="replay: the S3 key of one quarantined object")
    which.add_argument("--all", action="store_true", help="replay: every open quarantined object")
    p.add_argument("--from", dest="first", type=date.fromisoformat, help="rebuild: the first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, help="rebuild: the last day (YYYY-MM-DD)")
    p.add_argument("--bucket", dest="raw_bucket")
    p.add_argument("--dw-host")
    p.add_argument("--dw-port", type=int)
    p.add_argument("--dw-name")
    p.add_argument("--dw-user")
    p.add_argument("--password-parameter", dest="dw_password_parameter")
    p.add_argument("--session-timeout-minutes", type=int)
    p.add_argument("--freshness-hours", type=int)
    p.add_argument("--future-skew-minutes", type=int)
    p.add_argument("--batch-max-files", type=int)
    p.add_argument("--max-seconds", type=float, help="time budget, like the Lambda timeout")
    p.add_argument("--trigger", default="cli")
    p.add_argument("--metrics", action=argparse.BooleanOptionalAction, default=None,
                   help="publish the run's CloudWatch metrics (default: METRICS_ENABLED; see metrics.py)")
    args = p.parse_args(argv)
    if args.command == "replay" and not (args.key or args.all):
        p.error("replay needs --key KEY or --all")
    if args.command != "replay" and (args.key or args.all):
        p.error("--key and --all go with replay")
    if (args.command == "rebuild") != bool(args.first and args.last):
        p.error("rebuild needs --from DAY and --to DAY, which go with rebuild only")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(message)s", stream=sys.stderr)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    for name, var in (("raw_bucket", "RAW_BUCKET_NAME"), ("dw_host", "DW_HOST"),
                      ("dw_password_parameter", "DW_PASSWORD_PARAMETER")):
        if getattr(args, name):
            env[var] = getattr(args, name)
    if args.command == "rebuild":
        env.setdefault("RAW_BUCKET_NAME", "-")  # not read by a rebuild
    try:
        settings = with_overrides(
            settings_from_env(env), dw_port=args.dw_port, dw_name=args.dw_name, dw_user=args.dw_user,
            session_timeout_minutes=args.session_timeout_minutes, freshness_hours=args.freshness_hours,
            future_skew_minutes=args.future_skew_minutes, batch_max_files=args.batch_max_files)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    remaining = None
    if args.max_seconds:
        deadline = time.monotonic() + args.max_seconds
        remaining = lambda: int((deadline - time.monotonic()) * 1000)  # noqa: E731
    if args.metrics is not None:
        env["METRICS_ENABLED"] = "true" if args.metrics else "false"
    if args.command in ("rebuild", "lake-backfill"):
        env["METRICS_ENABLED"] = "false"  # the run metrics describe runs, not rebuilds
    metrics = RunMetrics.from_env(env)
    try:
        if args.command == "rebuild":
            result = rebuild_once(settings, args.first, args.last)
        elif args.command == "lake-backfill":
            result = lake_backfill_once(settings)
        elif args.command == "replay":
            result = replay_once(settings, key=args.key, metrics=metrics)
        else:
            result = run_once(settings, remaining_ms=remaining, trigger=args.trigger, metrics=metrics)
    except EtlFailed as exc:
        metrics.publish(None, failed=True)
        print(json.dumps({"status": "failed", "error": str(exc)}), file=sys.stdout)
        return 1
    metrics.publish(result.as_dict())
    print(json.dumps(result.as_dict(), default=str))
    if args.command == "replay" and result.files_quarantined:
        return 1  # some objects failed again: still quarantined
    return 0 if result.status in ("succeeded", "partial", "skipped_locked") else 1


if __name__ == "__main__":
    sys.exit(main())

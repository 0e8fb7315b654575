"""Local ETL scheduler: honours the EventBridge rule `<prefix>-etl-schedule` of the emulator locally.

moto stores the rule but runs nothing, so this process reads the rule's ``ScheduleExpression`` (``rate(...)``)
and ``State`` from the emulator on every tick and, when a run is due, calls the very same ETL Lambda handler
(``clickstream_etl.handler.handler``) in-process with an EventBridge-shaped event and a context whose time budget
is the function's timeout. The handler reads its settings from this process's environment (written by the
``etl`` role: local DW on 127.0.0.1, user etl_writer, password parameter NAME in the emulator's SSM).

    python -m clickstream_local.etl_scheduler --rule clickstream-local-etl-schedule [--env-file F] [--once]

Stop it with ``scripts/local-services.sh stop`` (service ``clickstream-etl-scheduler``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG = logging.getLogger("clickstream_local.etl_scheduler")
RATE_RE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


DEFAULT_ENV_FILE = "/var/lib/clickstream-analytics/etl/etl.env"


def parse_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key.strip()] = value.strip().strip('"')
    return env


def load_env_file(path: str, *, override: bool = False) -> dict[str, str]:
    """Put the file's variables into os.environ (existing ones win unless ``override``); return them."""
    env = parse_env(Path(path).read_text(encoding="utf-8"))
    if "DW_PASSWORD" in env:
        raise ValueError(f"{path} must not contain DW_PASSWORD: the password is read from SSM")
    for key, value in env.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return env


class ScheduleError(ValueError):
    """The rule's schedule cannot be honoured locally."""


def rate_seconds(expression: str) -> int:
    """``rate(30 minutes)`` -> 1800. Only rate() expressions are honoured locally."""
    m = RATE_RE.match(expression.strip())
    if not m:
        raise ScheduleError(f"unsupported schedule {expression!r}: the local scheduler honours rate(N unit) only")
    n = int(m.group(1))
    if n < 1:
        raise ScheduleError(f"rate must be >= 1, got {expression!r}")
    return n * UNIT_SECONDS[m.group(2)]


@dataclass
class LocalContext:
    """The bits of the Lambda context the ETL handler uses: a time budget and ids."""

    timeout_seconds: int
    function_name: str = "etl"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def scheduled_event(rule_arn: str, region: str, account: str) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": account, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [rule_arn], "detail": {},
    }


def invoke(function_name: str, timeout_seconds: int, event: dict[str, Any]) -> dict[str, Any]:
    """Run the ETL handler once, like Lambda would; errors are logged, never kill the scheduler."""
    from clickstream_etl.handler import handler

    ctx = LocalContext(timeout_seconds, function_name)
    try:
        result = handler(event, ctx)
        LOG.info(json.dumps({"message": "etl invocation finished", **result}, default=str))
        return result
    except Exception as exc:  # the next tick retries; the run log says what happened
        LOG.error(json.dumps({"message": "etl invocation failed", "error": f"{type(exc).__name__}: {exc}"}))
        return {"status": "failed", "error": str(exc)}


def describe(events, lambda_client, rule: str, function_name: str) -> tuple[dict[str, Any], int]:
    desc = events.describe_rule(Name=rule)
    try:
        timeout = int(lambda_client.get_function_configuration(FunctionName=function_name)["Timeout"])
    except Exception:  # the function may not exist in the emulator (ETL role run without it): Lambda's max
        timeout = 900
    return desc, timeout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rule", required=True, help="EventBridge rule name")
    p.add_argument("--function", default="", help="Lambda function name (its timeout is the time budget)")
    p.add_argument("--env-file", default="", help="KEY=VALUE file with the handler's settings (no secrets)")
    p.add_argument("--poll-seconds", type=float, default=15.0, help="how often the rule is re-read")
    p.add_argument("--once", action="store_true", help="run the ETL once now and exit")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.env_file:
        load_env_file(args.env_file)
    import boto3

    events, lam = boto3.client("events"), boto3.client("lambda")
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    next_run = time.monotonic()  # first run right after start, then every rate()
    while not stop["flag"]:
        try:
            desc, timeout = describe(events, lam, args.rule, args.function or args.rule)
            interval = rate_seconds(desc.get("ScheduleExpression", ""))
        except Exception as exc:  # emulator restarting, rule missing, bad expression: say so, keep polling
            LOG.error(json.dumps({"message": "cannot read the schedule", "rule": args.rule, "error": str(exc)}))
            if args.once:
                return 1
            time.sleep(args.poll_seconds)
            continue
        if args.once or (desc.get("State") == "ENABLED" and time.monotonic() >= next_run):
            result = invoke(args.function, timeout, scheduled_event(desc["Arn"], events.meta.region_name,
                                                                     desc["Arn"].split(":")[4]))
            if args.once:
                return 0 if result.get("status") != "failed" else 1
            next_run = time.monotonic() + interval
        time.sleep(min(args.poll_seconds, max(0.5, next_run - time.monotonic())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

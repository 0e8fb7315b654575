"""Lambda entry point for the EventBridge schedule (and what the CLI and the local scheduler call)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from .config import Settings, settings_from_env
from .connections import connect
from .metrics import RunMetrics
from .password import read_password
from .runner import RunResult, rebuild, replay, run_etl

LOG = logging.getLogger("clickstream_etl")
_clients: dict[str, Any] = {}


class EtlFailed(RuntimeError):
    """The run could not complete; everything not committed stays pending for the next run."""


def _client(name: str):
    if name not in _clients:  # created on first use, reused by warm invocations
        import boto3

        _clients[name] = boto3.client(name)
    return _clients[name]


def run_once(settings: Settings, *, remaining_ms: Callable[[], int] | None = None, trigger: str = "cli",
             s3=None, ssm=None, metrics: RunMetrics | None = None) -> RunResult:
    """Read the password from SSM, connect, run. DW or S3 trouble -> EtlFailed (nothing half-done).

    ``metrics`` (optional) reads what the run's metrics need from the warehouse after a run; never raises.
    """
    return _connected(settings, lambda conn, s3_: run_etl(conn, s3_, settings, remaining_ms=remaining_ms,
                                                          trigger=trigger), s3, ssm, metrics)


def replay_once(settings: Settings, *, key: str | None = None, s3=None, ssm=None,
                metrics: RunMetrics | None = None) -> RunResult:
    """``run_once`` for ``runner.replay``: the open quarantined objects (all, or only ``key``)."""
    return _connected(settings, lambda conn, s3_: replay(conn, s3_, settings, key=key), s3, ssm, metrics)


def rebuild_once(settings: Settings, first: date, last: date, *, ssm=None) -> RunResult:
    """``run_once`` for ``runner.rebuild``: recompute every aggregate of the days ``first``..``last``."""
    # s3=False: a rebuild reads only the warehouse, no S3 client is made
    return _connected(settings, lambda conn, _: rebuild(conn, first, last), False, ssm, None)


def lake_backfill_once(settings: Settings, *, s3=None, ssm=None) -> RunResult:
    """``run_once`` for ``lake.run.backfill``: the warehouse's history into the lake (docs/lake.md)."""
    from .lake.run import backfill

    if not settings.lake_enabled:
        raise EtlFailed("the lake is off (LAKE_ENABLED=false): nothing to backfill into")
    return _connected(settings, lambda conn, _: backfill(conn, settings), False, ssm, None)


def _connected(settings: Settings, work: Callable[..., RunResult], s3, ssm,
               metrics: RunMetrics | None) -> RunResult:
    import psycopg2

    password = read_password(ssm or _client("ssm"), settings.dw_password_parameter)
    try:
        conn = connect(settings, password)
    except psycopg2.OperationalError as exc:
        raise EtlFailed(f"cannot connect to the warehouse at {settings.dw_host}:{settings.dw_port}: "
                        f"{str(exc).strip()}") from exc
    try:
        result = work(conn, _client("s3") if s3 is None else s3)
        if metrics is not None:
            metrics.observe(conn)
        return result
    except EtlFailed:
        raise
    except Exception as exc:
        raise EtlFailed(f"ETL run failed: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def handler(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """A run; or, for an invocation with ``{"replay": "<key>"}`` / ``{"replay": "all"}``, the replay of quarantined
    objects (``runner.replay``; docs/warehouse.md, "Quarantine and replay"); for ``{"lake_backfill": true}``, the
    lake's backfill (docs/lake.md)."""
    logging.getLogger().setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    settings = settings_from_env(os.environ)
    trigger = "schedule" if (event or {}).get("source") == "aws.events" else str((event or {}).get("trigger", "invoke"))
    replay_what = str((event or {}).get("replay") or "")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    metrics = RunMetrics.from_env(os.environ)  # METRICS_* (metrics.py); a bad value only disables metrics
    try:
        if (event or {}).get("lake_backfill"):
            result = lake_backfill_once(settings)
        elif replay_what:
            result = replay_once(settings, key=None if replay_what == "all" else replay_what, metrics=metrics)
        else:
            result = run_once(settings, remaining_ms=remaining, trigger=trigger, metrics=metrics)
    except EtlFailed as exc:
        LOG.error(json.dumps({"message": "etl run failed", "error": str(exc)}))
        metrics.publish(None, failed=True)
        raise
    except Exception:
        metrics.publish(None, failed=True)
        raise
    metrics.publish(result.as_dict())
    return result.as_dict()

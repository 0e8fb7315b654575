"""Lambda entry point for the EventBridge schedule (and what the CLI and the local scheduler call)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from .config import Settings, settings_from_env
from .metrics import RunMetrics
from .password import read_password
from .runner import RunResult, replay, run_etl

LOG = logging.getLogger("clickstream_etl")
_clients: dict[str, Any] = {}


class EtlFailed(RuntimeError):
    """The run could not complete; everything not committed stays pending for the next run."""


def _client(name: str):
    if name not in _clients:  # created on first use, reused by warm invocations
        import boto3

        _clients[name] = boto3.client(name)
    return _clients[name]


def connect(settings: Settings, password: str):
    import psycopg2

    return psycopg2.connect(
        host=settings.dw_host, port=settings.dw_port, dbname=settings.dw_name, user=settings.dw_user,
        password=password, connect_timeout=settings.connect_timeout_seconds,
        application_name="clickstream-etl",
        # TLS verified: the certificate must come from the CA in dw_sslrootcert and carry dw_host's name
        sslmode=settings.dw_sslmode, **({"sslrootcert": settings.dw_sslrootcert} if settings.dw_sslrootcert else {}),
        options=session_options(settings),
        # the client side of the keepalives: a warehouse that vanished mid-statement ends the run, not the Lambda
        keepalives=1, keepalives_idle=settings.keepalives_idle_seconds, keepalives_interval=10, keepalives_count=3,
    )


def session_options(settings: Settings) -> str:
    """The session limits (Settings), also the role's defaults: statement and idle-in-transaction timeouts, and
    the server's TCP keepalives towards this client (it ends the session of a Lambda killed while idle, and so
    frees the ETL's advisory lock)."""
    return " ".join([
        f"-c statement_timeout={settings.statement_timeout_seconds * 1000}",
        f"-c idle_in_transaction_session_timeout={settings.idle_in_transaction_timeout_seconds * 1000}",
        f"-c tcp_keepalives_idle={settings.keepalives_idle_seconds}",
        "-c tcp_keepalives_interval=10",
        "-c tcp_keepalives_count=3",
    ])


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
        result = work(conn, s3 or _client("s3"))
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
    objects (``runner.replay``; docs/warehouse.md, "Quarantine and replay")."""
    logging.getLogger().setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    settings = settings_from_env(os.environ)
    trigger = "schedule" if (event or {}).get("source") == "aws.events" else str((event or {}).get("trigger", "invoke"))
    replay_what = str((event or {}).get("replay") or "")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    metrics = RunMetrics.from_env(os.environ)  # METRICS_* (metrics.py); a bad value only disables metrics
    try:
        if replay_what:
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

"""Per-run ETL metrics for CloudWatch: files loaded and quarantined, events loaded, rejects, run duration, data
lag, quarantined files still open, anomalies flagged.

Published after every run (also after a failed one) by the handler and the CLI, from the run summary the runner
returns. Data lag = now - newest event timestamp in the warehouse, and QuarantinedFiles = the quarantined objects
not replayed yet (etl.quarantine), both read from the DW after the run; FilesQuarantined counts the objects the
run itself set aside (or that failed again on replay). AnomaliesFlagged = the flags of the newest hour the anomaly
checks evaluated (dw.anomaly_flags, clickstream_etl.anomalies), read after the run: one datum in all, and one per
check with the extra dimension ``Check`` (volume, reject_rate, duplicate_rate, late_rate, conversion).

Settings (environment, like the rest of the ETL; all optional):
  METRICS_ENABLED     "true" publishes; anything else (default: unset) publishes nothing.
  METRICS_NAMESPACE   CloudWatch namespace (default ``Clickstream/ETL``).
  METRICS_DIMENSIONS  ``Name=Value[,Name=Value...]`` on every datum (default: none), e.g. ``Pipeline=clickstream-dev``.
  METRICS_TRANSPORT   ``api``: PutMetricData (the role needs cloudwatch:PutMetricData for that namespace and, in a
                      VPC without NAT, a ``monitoring`` interface endpoint); ``emf``: CloudWatch Embedded Metric
                      Format lines on stdout, which CloudWatch Logs turns into the same metrics (no network call).
                      Default: ``emf`` inside Lambda, ``api`` elsewhere.

Publishing never fails a run: any problem (bad setting, no network, denied) is logged as a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

LOG = logging.getLogger("clickstream_etl")

DEFAULT_NAMESPACE = "Clickstream/ETL"
TRANSPORTS = ("api", "emf")
SUCCESS_STATUSES = ("succeeded", "partial")
# (metric name, run-summary key, unit): the counters of one run.
COUNTERS = (
    ("FilesLoaded", "files_loaded", "Count"),
    ("FilesRemaining", "files_remaining", "Count"),
    ("EventsLoaded", "events_loaded", "Count"),
    ("Duplicates", "duplicates", "Count"),
    ("Rejects", "rejects", "Count"),
    ("FilesQuarantined", "files_quarantined", "Count"),
    ("LakeExportFailures", "lake_export_failures", "Count"),
)
_NAME_RE = re.compile(r"^[A-Za-z0-9 ._/#:\-]{1,255}$")
_TRUE = ("1", "true", "yes", "on")

# Newest event in the warehouse. The hourly aggregate (small, refreshed by every run) bounds the scan of
# dw.events to its last hour, which the BRIN index on event_timestamp serves; without aggregates: full max().
NEWEST_EVENT_SQL = """
SELECT max(event_timestamp) FROM dw.events
WHERE event_timestamp >= COALESCE((SELECT max(activity_hour) FROM dw.agg_hourly_activity), '-infinity')
"""
OPEN_QUARANTINE_SQL = "SELECT count(*) FROM etl.quarantine WHERE resolved_at IS NULL"


class MetricsConfigError(ValueError):
    """A METRICS_* setting does not parse."""


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = False
    namespace: str = DEFAULT_NAMESPACE
    dimensions: tuple[tuple[str, str], ...] = ()
    transport: str = "api"


def parse_dimensions(raw: str) -> tuple[tuple[str, str], ...]:
    """``"Pipeline=clickstream-dev, Env=dev"`` -> ``(("Pipeline", "clickstream-dev"), ("Env", "dev"))``."""
    dims: list[tuple[str, str]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise MetricsConfigError(f"METRICS_DIMENSIONS entry {part!r} is not Name=Value")
        if not _NAME_RE.match(name) or len(value) > 1024:
            raise MetricsConfigError(f"METRICS_DIMENSIONS name {name!r} is not a valid dimension name")
        if name in (n for n, _ in dims):
            raise MetricsConfigError(f"METRICS_DIMENSIONS repeats {name!r}")
        dims.append((name, value))
    if len(dims) > 30:
        raise MetricsConfigError("METRICS_DIMENSIONS has more than 30 dimensions")
    return tuple(dims)


def settings_from_env(env: Mapping[str, str]) -> MetricsSettings:
    """Read the METRICS_* variables; raise MetricsConfigError naming the bad one."""
    enabled = (env.get("METRICS_ENABLED") or "").strip().lower() in _TRUE
    namespace = (env.get("METRICS_NAMESPACE") or DEFAULT_NAMESPACE).strip()
    if not _NAME_RE.match(namespace) or namespace.startswith("AWS/"):
        raise MetricsConfigError(f"METRICS_NAMESPACE {namespace!r} is not a valid custom namespace")
    default_transport = "emf" if env.get("AWS_LAMBDA_FUNCTION_NAME") else "api"
    transport = (env.get("METRICS_TRANSPORT") or default_transport).strip().lower()
    if transport not in TRANSPORTS:
        raise MetricsConfigError(f"METRICS_TRANSPORT must be one of {TRANSPORTS}, got {transport!r}")
    return MetricsSettings(enabled, namespace, parse_dimensions(env.get("METRICS_DIMENSIONS") or ""), transport)


def data_lag_seconds(newest_event: datetime | None, now: datetime) -> float | None:
    """now - newest event (never negative: client clocks may run ahead); None when the DW has no event."""
    if newest_event is None:
        return None
    if newest_event.tzinfo is None:
        newest_event = newest_event.replace(tzinfo=UTC)
    return max(0.0, (now - newest_event).total_seconds())


def run_values(summary: Mapping[str, Any] | None, *, failed: bool, duration_seconds: float,
               lag_seconds: float | None, quarantined_open: int | None = None,
               anomalies: Mapping[str, int] | None = None) -> list[tuple[str, float, str]]:
    """The (metric, value, unit) triples of one run. ``summary`` is RunResult.as_dict() (None if the run raised)."""
    summary = summary or {}
    status = str(summary.get("status") or ("failed" if failed else ""))
    failed = failed or status == "failed"
    values = [(name, float(summary.get(key) or 0), unit) for name, key, unit in COUNTERS]
    values += [
        ("SuccessfulRuns", 1.0 if status in SUCCESS_STATUSES and not failed else 0.0, "Count"),
        ("FailedRuns", 1.0 if failed else 0.0, "Count"),
        ("RunDuration", round(max(0.0, duration_seconds), 3), "Seconds"),
    ]
    if lag_seconds is not None:
        values.append(("DataLag", round(lag_seconds, 3), "Seconds"))
    if quarantined_open is not None:
        values.append(("QuarantinedFiles", float(quarantined_open), "Count"))
    if anomalies is not None:
        values.append(("AnomaliesFlagged", float(sum(anomalies.values())), "Count"))
    return values


def check_data(anomalies: Mapping[str, int] | None, dimensions: tuple[tuple[str, str], ...],
               now: datetime) -> list[dict[str, Any]]:
    """PutMetricData's MetricData of AnomaliesFlagged per check (the run's dimensions and ``Check``)."""
    return [datum for check, n in sorted((anomalies or {}).items())
            for datum in metric_data([("AnomaliesFlagged", float(n), "Count")], (*dimensions, ("Check", check)), now)]


def check_documents(anomalies: Mapping[str, int] | None, settings: MetricsSettings,
                    now: datetime) -> list[dict[str, Any]]:
    """One EMF document per check: AnomaliesFlagged with the run's dimensions and ``Check``."""
    return [emf_document([("AnomaliesFlagged", float(n), "Count")],
                         MetricsSettings(settings.enabled, settings.namespace, (*settings.dimensions, ("Check", check)),
                                         settings.transport), now)
            for check, n in sorted((anomalies or {}).items())]


def metric_data(values: list[tuple[str, float, str]], dimensions: tuple[tuple[str, str], ...],
                now: datetime) -> list[dict[str, Any]]:
    """PutMetricData's MetricData for the values (one datum each, same dimensions and timestamp)."""
    dims = [{"Name": n, "Value": v} for n, v in dimensions]
    return [{"MetricName": name, "Dimensions": dims, "Timestamp": now, "Value": value, "Unit": unit}
            for name, value, unit in values]


def emf_document(values: list[tuple[str, float, str]], settings: MetricsSettings, now: datetime) -> dict[str, Any]:
    """One CloudWatch Embedded Metric Format document carrying every value."""
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(now.timestamp() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": settings.namespace,
                "Dimensions": [[n for n, _ in settings.dimensions]],
                "Metrics": [{"Name": name, "Unit": unit} for name, _, unit in values],
            }],
        },
    }
    doc.update(dict(settings.dimensions))
    doc.update({name: value for name, value, _ in values})
    return doc


def newest_event_timestamp(conn) -> datetime | None:
    with conn.cursor() as cur:
        cur.execute(NEWEST_EVENT_SQL)
        newest = cur.fetchone()[0]
    conn.commit()
    return newest


def open_quarantine_count(conn) -> int:
    with conn.cursor() as cur:
        cur.execute(OPEN_QUARANTINE_SQL)
        count = cur.fetchone()[0]
    conn.commit()
    return int(count)


def cloudwatch_client():
    """A CloudWatch client that gives up fast: metrics must not eat the Lambda's time budget."""
    import boto3
    from botocore.config import Config

    return boto3.client("cloudwatch", config=Config(connect_timeout=3, read_timeout=5,
                                                    retries={"max_attempts": 2, "mode": "standard"}))


@dataclass
class RunMetrics:
    """Collects what one run needs for its metrics and publishes them once; every method swallows errors."""

    settings: MetricsSettings
    client_factory: Callable[[], Any] = cloudwatch_client
    stream: TextIO | None = None
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    started: float = field(init=False)
    newest_event: datetime | None = field(init=False, default=None)
    quarantined_open: int | None = field(init=False, default=None)
    anomalies: dict[str, int] | None = field(init=False, default=None)
    published: list[tuple[str, float, str]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kwargs: Any) -> RunMetrics:
        try:
            settings = settings_from_env(env)
        except MetricsConfigError as exc:
            LOG.warning(json.dumps({"message": "etl metrics disabled: bad setting", "error": str(exc)}))
            settings = MetricsSettings(enabled=False)
        return cls(settings, **kwargs)

    @classmethod
    def disabled(cls) -> RunMetrics:
        return cls(MetricsSettings(enabled=False))

    def observe(self, conn) -> None:
        """Read the newest event timestamp (for the data lag) and the open quarantine records on the run's
        connection, after the run."""
        if not self.settings.enabled:
            return
        try:
            self.newest_event = newest_event_timestamp(conn)
            self.quarantined_open = open_quarantine_count(conn)
            from .anomalies import latest_flags

            self.anomalies = latest_flags(conn)
        except Exception as exc:  # the run itself succeeded; only the lag metric is lost
            LOG.warning(json.dumps({"message": "etl metrics: cannot read the newest event",
                                    "error": f"{type(exc).__name__}: {exc}"}))
            with contextlib.suppress(Exception):  # the connection is closed right after anyway
                conn.rollback()

    def publish(self, summary: Mapping[str, Any] | None, *, failed: bool = False) -> bool:
        """Publish the run's metrics; True when sent. Never raises."""
        if not self.settings.enabled:
            return False
        try:
            now = self.now()
            values = run_values(summary, failed=failed, duration_seconds=self.clock() - self.started,
                                lag_seconds=data_lag_seconds(self.newest_event, now),
                                quarantined_open=self.quarantined_open, anomalies=self.anomalies)
            if self.settings.transport == "emf":
                out = self.stream or sys.stdout
                for doc in [emf_document(values, self.settings, now),
                            *check_documents(self.anomalies, self.settings, now)]:
                    out.write(json.dumps(doc, separators=(",", ":")) + "\n")
                out.flush()
            else:
                data = [*metric_data(values, self.settings.dimensions, now),
                        *check_data(self.anomalies, self.settings.dimensions, now)]
                client = self.client_factory()
                for first in range(0, len(data), 1000):  # PutMetricData takes at most 1000 datums
                    client.put_metric_data(Namespace=self.settings.namespace, MetricData=data[first:first + 1000])
        except Exception as exc:  # monitoring must never turn a good run into a failed one
            LOG.warning(json.dumps({"message": "etl metrics not published", "namespace": self.settings.namespace,
                                    "error": f"{type(exc).__name__}: {exc}"}))
            return False
        self.published = values
        return True

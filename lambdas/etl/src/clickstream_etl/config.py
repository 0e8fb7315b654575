"""ETL settings from environment variables (Lambda) or CLI flags; every value checked up front."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from clickstream_env import ConfigError, choice
from clickstream_env import integer as _int
from clickstream_env import required as _required

from .anomalies import AnomalySettings
from .anomalies import settings_from_env as _anomalies
from .attribution import DEFAULT_LOOKBACK_DAYS, MAX_LOOKBACK_DAYS
from .segments import Thresholds, thresholds_from_env

PARSE_WORKER_CHOICES = ("auto", "on", "off")
SSLMODE_CHOICES = ("verify-full", "verify-ca", "require")


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    dw_host: str
    dw_port: int = 5432
    dw_name: str = "clickstream_dw"
    dw_user: str = "etl_writer"
    # Name of the SSM SecureString parameter holding the DW password (never the password itself).
    dw_password_parameter: str = ""
    events_prefix: str = "events/"
    # Where the ingest writes the events it rejected (counted by clickstream_etl.ingest_rejects).
    rejected_prefix: str = "rejected/"
    session_timeout_minutes: int = 30
    freshness_hours: int = 72
    future_skew_minutes: int = 15
    # Stop taking new batches when the Lambda has less than this left.
    min_remaining_seconds: int = 120
    # Do not start the aggregates' apply (and refresh) with less than this left: their clients and days stay
    # pending and the next run applies them first. Below min_remaining_seconds, so that a run that stopped taking
    # batches still applies what it loaded.
    min_apply_seconds: int = 20
    # A batch (one transaction) takes objects until it holds this many bytes or objects.
    batch_max_bytes: int = 16 * 1024 * 1024
    batch_max_files: int = 500
    # Apply the aggregates' pending change (clickstream_etl.aggregates) once this many events were loaded since the last
    # time, and at the end of the run: the database does it while the next batches are parsed, and dashboards see
    # a long run's events before it ends. Each apply reads back the windows of every client pending, so applying
    # more often reads a client that spans several applies more than once; an apply of this many events takes far
    # less than min_remaining_seconds (docs/warehouse.md, "Performance"). 0 = only at the end of the run.
    aggregate_every_events: int = 2_000_000
    # Only list keys from this many hours before the newest loaded key (0 = list the whole prefix).
    listing_lookback_hours: int = 24
    connect_timeout_seconds: int = 10
    # TLS to the warehouse: libpq's sslmode, verify-full by default (the server's certificate must come from the
    # suite's CA and name dw_host); sslrootcert is the CA certificate file (in the Lambda package; docs/security.md).
    dw_sslmode: str = "verify-full"
    dw_sslrootcert: str = ""
    # Session limits of the ETL's connections (also the etl_writer role's defaults, roles/dw_db): a statement
    # running longer is cancelled; a session idle inside a transaction longer is ended by the server, and with it
    # the ETL's advisory lock; TCP keepalives find a peer that vanished (a Lambda killed while idle).
    statement_timeout_seconds: int = 600
    idle_in_transaction_timeout_seconds: int = 900
    keepalives_idle_seconds: int = 60
    # Parse the raw objects in a worker process (clickstream_etl.parse_worker), beside the run's own threads:
    # "auto" = when this process may use more than one CPU (a Lambda with more than 1,769 MB), "on", "off".
    parse_worker: str = "auto"
    # The lake (clickstream_etl.lake, docs/lake.md): with lake_enabled, each load records its new events in the
    # outbox (etl.lake_outbox) and the run appends them to the Iceberg tables of the Glue database lake_database,
    # under lake_location (s3://bucket/prefix); at most lake_export_max_events per Iceberg commit.
    lake_enabled: bool = False
    lake_database: str = ""
    lake_location: str = ""
    lake_export_max_events: int = 500_000
    # The hourly anomaly checks after the aggregates (clickstream_etl.anomalies; ANOMALY_* variables).
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)
    # The hot window (clickstream_etl.lake.hot_window, docs/lake.md): with the lake on, the raw events of days older
    # than this leave the warehouse once the lake holds them (sessions the client-returns horizon later). 0 = the
    # warehouse keeps everything.
    hot_window_days: int = 0
    # Not a setting: whether the warehouse has the hot window's schema (the event-id ledger dw.event_ids), found by
    # the run at its start (hot_window.converted); the load then writes the ledger and its dedup reads it.
    event_ledger: bool = False
    # The client segments' thresholds (clickstream_etl.segments: SEGMENT_* variables, documented defaults there).
    segment_thresholds: Thresholds = field(default_factory=Thresholds)
    # Attribution's lookback window in days (clickstream_etl.attribution: ATTRIBUTION_LOOKBACK_DAYS): a purchase
    # credits the client's sessions that started at most this long before it. A run given another value recomputes
    # the credits of every purchase the warehouse holds.
    attribution_lookback_days: int = 30

    def __post_init__(self) -> None:
        if self.parse_worker not in PARSE_WORKER_CHOICES:
            raise ConfigError(f"PARSE_WORKER must be one of {', '.join(PARSE_WORKER_CHOICES)}, "
                              f"got {self.parse_worker!r}")
        if self.hot_window_days:
            from .lake.hot_window import minimum_days  # the lake's modules are imported only when used

            if not self.lake_enabled:
                raise ConfigError("HOT_WINDOW_DAYS needs LAKE_ENABLED=true: raw rows leave the warehouse only for the "
                                  "lake")
            least = minimum_days(self.freshness_hours, self.session_timeout_minutes)
            if self.hot_window_days < least:
                raise ConfigError(f"HOT_WINDOW_DAYS must be 0 (keep everything) or at least {least} (the freshness "
                                  f"window, a session timeout and a day), got {self.hot_window_days}")


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Read and check every setting; raise ConfigError naming the variable on a bad value."""
    if (env.get("DW_PASSWORD") or "").strip():
        raise ConfigError("DW_PASSWORD must not be set: give DW_PASSWORD_PARAMETER, the SSM SecureString name")
    prefix = (env.get("EVENTS_PREFIX") or "events/").strip()
    return Settings(
        raw_bucket=_required(env, "RAW_BUCKET_NAME"),
        dw_host=_required(env, "DW_HOST"),
        dw_port=_int(env, "DW_PORT", 5432, 1),
        dw_name=(env.get("DW_NAME") or "clickstream_dw").strip(),
        dw_user=(env.get("DW_USER") or "etl_writer").strip(),
        dw_password_parameter=_required(env, "DW_PASSWORD_PARAMETER"),
        events_prefix=prefix if prefix.endswith("/") else prefix + "/",
        rejected_prefix=(env.get("REJECTED_PREFIX") or "rejected/").strip().rstrip("/") + "/",
        session_timeout_minutes=_int(env, "SESSION_TIMEOUT_MINUTES", 30, 1),
        freshness_hours=_int(env, "FRESHNESS_HOURS", 72, 1),
        future_skew_minutes=_int(env, "FUTURE_SKEW_MINUTES", 15, 0),
        min_remaining_seconds=_int(env, "MIN_REMAINING_SECONDS", 120, 0),
        min_apply_seconds=_int(env, "MIN_APPLY_SECONDS", 20, 0),
        batch_max_bytes=_int(env, "BATCH_MAX_BYTES", 16 * 1024 * 1024, 1024),
        aggregate_every_events=_int(env, "AGGREGATE_EVERY_EVENTS", 2_000_000, 0),
        batch_max_files=_int(env, "BATCH_MAX_FILES", 500, 1),
        listing_lookback_hours=_int(env, "LISTING_LOOKBACK_HOURS", 24, 0),
        connect_timeout_seconds=_int(env, "DW_CONNECT_TIMEOUT_SECONDS", 10, 1),
        # TLS is never optional; libpq reads sslmode case-sensitively, so the value is taken exactly as given
        dw_sslmode=choice(env, "DW_SSLMODE", "verify-full", SSLMODE_CHOICES, fold_case=False),
        dw_sslrootcert=(env.get("DW_SSLROOTCERT") or "").strip(),
        statement_timeout_seconds=_int(env, "DW_STATEMENT_TIMEOUT_SECONDS", 600, 1),
        idle_in_transaction_timeout_seconds=_int(env, "DW_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 900, 1),
        keepalives_idle_seconds=_int(env, "DW_KEEPALIVES_IDLE_SECONDS", 60, 1),
        parse_worker=choice(env, "PARSE_WORKER", "auto", PARSE_WORKER_CHOICES),
        segment_thresholds=thresholds_from_env(env),
        attribution_lookback_days=_lookback(env),
        **_lake(env),
        anomalies=_anomalies(env),
    )


def _lookback(env: Mapping[str, str]) -> int:
    """ATTRIBUTION_LOOKBACK_DAYS: 1 to MAX_LOOKBACK_DAYS (etl.attribution_settings' bound), 30 by default."""
    days = _int(env, "ATTRIBUTION_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS, 1)
    if days > MAX_LOOKBACK_DAYS:
        raise ConfigError(f"ATTRIBUTION_LOOKBACK_DAYS must be <= {MAX_LOOKBACK_DAYS}, got {days}")
    return days


def _lake(env: Mapping[str, str]) -> dict[str, object]:
    """LAKE_ENABLED (true/false), and with it LAKE_DATABASE, LAKE_LOCATION (s3://bucket/prefix) and
    HOT_WINDOW_DAYS (which needs the lake)."""
    raw = (env.get("LAKE_ENABLED") or "false").strip().lower()
    if raw not in ("true", "false"):
        raise ConfigError(f"LAKE_ENABLED must be true or false, got {raw!r}")
    if raw == "false":
        if _int(env, "HOT_WINDOW_DAYS", 0, 0):
            raise ConfigError("HOT_WINDOW_DAYS needs LAKE_ENABLED=true: raw rows leave the warehouse only for the lake")
        return {}
    location = _required(env, "LAKE_LOCATION").rstrip("/")
    if not location.startswith("s3://") or len(location) <= len("s3://"):
        raise ConfigError(f"LAKE_LOCATION must be s3://bucket[/prefix], got {location!r}")
    return {"lake_enabled": True, "lake_database": _required(env, "LAKE_DATABASE"), "lake_location": location,
            "lake_export_max_events": _int(env, "LAKE_EXPORT_MAX_EVENTS", 500_000, 1),
            "hot_window_days": _int(env, "HOT_WINDOW_DAYS", 0, 0)}


def with_overrides(settings: Settings, **overrides: object) -> Settings:
    """A copy with the given fields replaced (CLI flags); None values are ignored."""
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

"""Handler configuration from environment variables (see docs/event-contract.md, section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(ValueError):
    """A required variable is missing or a value does not parse."""


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    events_prefix: str = "events/"
    rejected_prefix: str = "rejected/"
    max_body_bytes: int = 262_144
    max_events_per_request: int = 100
    max_event_age_seconds: int = 31_622_400
    max_clock_skew_seconds: int = 86_400
    s3_max_attempts: int = 4
    s3_backoff_base_seconds: float = 0.05
    s3_backoff_max_seconds: float = 1.0
    log_level: str = "INFO"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not 0 <= value <= 60:
        raise ConfigError(f"{name} must be between 0 and 60 seconds, got {value}")
    return value


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    return value if value.endswith("/") else value + "/"


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Read and check every setting; raise ConfigError with the variable's name on a bad value."""
    bucket = env.get("RAW_BUCKET_NAME", "").strip()
    if not bucket:
        raise ConfigError("RAW_BUCKET_NAME is not set")
    return Settings(
        raw_bucket=bucket,
        events_prefix=_prefix(env, "EVENTS_PREFIX", "events/"),
        rejected_prefix=_prefix(env, "REJECTED_PREFIX", "rejected/"),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 262_144, 1),
        max_events_per_request=_int(env, "MAX_EVENTS_PER_REQUEST", 100, 1),
        max_event_age_seconds=_int(env, "MAX_EVENT_AGE_SECONDS", 31_622_400, 0),
        max_clock_skew_seconds=_int(env, "MAX_CLOCK_SKEW_SECONDS", 86_400, 0),
        s3_max_attempts=_int(env, "S3_MAX_ATTEMPTS", 4, 1),
        s3_backoff_base_seconds=_float(env, "S3_BACKOFF_BASE_SECONDS", 0.05),
        s3_backoff_max_seconds=_float(env, "S3_BACKOFF_MAX_SECONDS", 1.0),
        log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
    )

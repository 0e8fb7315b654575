"""Handler configuration from environment variables (see docs/event-contract.md, section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clickstream_env import ConfigError, integer, number, prefix, required, text

__all__ = ["ConfigError", "Settings", "settings_from_env"]


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


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Read and check every setting; raise ConfigError with the variable's name on a bad value."""
    return Settings(
        raw_bucket=required(env, "RAW_BUCKET_NAME"),
        events_prefix=prefix(env, "EVENTS_PREFIX", "events/"),
        rejected_prefix=prefix(env, "REJECTED_PREFIX", "rejected/"),
        max_body_bytes=integer(env, "MAX_BODY_BYTES", 262_144, 1),
        max_events_per_request=integer(env, "MAX_EVENTS_PER_REQUEST", 100, 1),
        max_event_age_seconds=integer(env, "MAX_EVENT_AGE_SECONDS", 31_622_400, 0),
        max_clock_skew_seconds=integer(env, "MAX_CLOCK_SKEW_SECONDS", 86_400, 0),
        s3_max_attempts=integer(env, "S3_MAX_ATTEMPTS", 4, 1),
        s3_backoff_base_seconds=number(env, "S3_BACKOFF_BASE_SECONDS", 0.05, 0, 60),
        s3_backoff_max_seconds=number(env, "S3_BACKOFF_MAX_SECONDS", 1.0, 0, 60),
        log_level=text(env, "LOG_LEVEL", "INFO").upper(),
    )

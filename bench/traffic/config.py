"""Knobs of the synthetic traffic (all with realistic defaults) and the time window it covers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class ConfigError(ValueError):
    """A traffic setting is out of range (the message names it)."""


@dataclass(frozen=True)
class Funnel:
    """Session-level step probabilities: P(step | the session reached the previous step).

    `view_item` is the share of sessions that view at least one product; the others only see home,
    category, search or account pages.
    """

    view_item: float = 0.65
    add_to_cart: float = 0.35
    begin_checkout: float = 0.55
    purchase: float = 0.7


@dataclass(frozen=True)
class TrafficConfig:
    seed: int = 42
    clients: int = 1000
    start: datetime | None = None  # default: end - 24 h (a "demo day")
    end: datetime | None = None  # default: now (UTC, whole seconds)
    funnel: Funnel = field(default_factory=Funnel)
    # visitors and returning clients
    returning: float = 0.4  # P(another session after each session), cut at the window's end
    max_sessions_per_client: int = 8
    session_gap_min_s: int = 35 * 60  # > the ETL's 30 min timeout, so every gap starts a new session
    session_gap_mean_s: int = 3 * 3600  # mean of the extra exponential gap on top of the minimum
    max_dwell_s: int = 20 * 60  # longest pause inside a session (< 30 min timeout)
    session_timeout_s: int = 30 * 60  # the server's sessionization rule the report mirrors
    # identity
    registered: float = 0.35  # share of clients that belong to a registered user
    remembered_login: float = 0.6  # P(a registered client is already logged in when a session starts)
    login: float = 0.5  # P(a registered, logged-out client logs in during a session)
    sign_up: float = 0.25  # P(a guest who begins checkout signs up first)
    users_per_registered_client: float = 0.8  # < 1: some users use several devices (clients)
    # browsing
    mean_product_views: float = 2.5  # per session that views products
    popularity_skew: float = 1.0  # product choice weight = popularity ** skew (1: the catalog's own, 0: uniform)
    max_quantity: int = 1
    search: float = 0.2  # P(a session lands on a search)
    # deliberate faults
    malformed: float = 0.005  # per valid event: an extra malformed event the ingest must reject
    duplicate: float = 0.01  # per valid event: re-sent once more (same event_id) in a later batch
    # browser-like batching
    batch_max: int = 20
    flush_interval_s: int = 10
    site_origin: str = "https://shop.example.com"
    include_session_id: bool = True
    # acquisition: an e-mail campaign of the day (utm_campaign) that brings `campaign_share` of the sessions;
    # None: the usual channel mix only (generator.CHANNEL_MIX)
    campaign: str | None = None
    campaign_share: float = 0.5
    # returning clients across runs (the demo's days): `audience_share` of this run's clients are members of an
    # audience of `audience_size` clients shared by every run with the same `audience_seed` (same client id,
    # device and user in each run), so a member comes back on other days; 0: every client is this run's own
    audience_seed: int = 0
    audience_size: int = 0
    audience_share: float = 0.0

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """(start, end) in UTC; `now` is only used when no end was given."""
        end = self.end or (now or datetime.now(UTC)).replace(microsecond=0)
        start = self.start or end - timedelta(days=1)
        return _utc(start), _utc(end)

    def resolved(self, now: datetime | None = None) -> TrafficConfig:
        """A copy with the window fixed, validated: the one a run (and its report) uses."""
        start, end = self.window(now)
        cfg = dataclasses.replace(self, start=start, end=end)
        validate(cfg)
        return cfg


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {value}")


def validate(cfg: TrafficConfig) -> None:
    for name in ("view_item", "add_to_cart", "begin_checkout", "purchase"):
        _prob(f"funnel.{name}", getattr(cfg.funnel, name))
    for name in ("returning", "registered", "remembered_login", "login", "sign_up", "search", "campaign_share",
                 "audience_share"):
        _prob(name, getattr(cfg, name))
    _prob("malformed", cfg.malformed)
    _prob("duplicate", cfg.duplicate)
    if cfg.popularity_skew < 0:
        raise ConfigError("popularity_skew must be >= 0")
    if cfg.clients < 0:
        raise ConfigError("clients must be >= 0")
    if cfg.audience_size < 0:
        raise ConfigError("audience_size must be >= 0")
    if not 0 < cfg.users_per_registered_client <= 1:
        raise ConfigError("users_per_registered_client must be in (0, 1]")
    if not 1 <= cfg.batch_max <= 1000:
        raise ConfigError("batch_max must be in [1, 1000]")
    if cfg.max_quantity < 1 or cfg.max_sessions_per_client < 1 or cfg.mean_product_views < 1:
        raise ConfigError("max_quantity, max_sessions_per_client and mean_product_views must be >= 1")
    if cfg.max_dwell_s >= cfg.session_timeout_s:
        raise ConfigError("max_dwell_s must be below session_timeout_s (or sessions would split)")
    if cfg.session_gap_min_s <= cfg.session_timeout_s:
        raise ConfigError("session_gap_min_s must exceed session_timeout_s (or sessions would merge)")
    assert cfg.start is not None and cfg.end is not None
    if cfg.end <= cfg.start:
        raise ConfigError(f"the window is empty: start {cfg.start} >= end {cfg.end}")

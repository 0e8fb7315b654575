"""Recency/frequency/monetary segments of clients, recomputed once a day (sql/dw/0034; docs/warehouse.md,
"Client segments").

The segment rule is queries/segments.sql (``compute``, its one definition), with the thresholds of ``Thresholds``
as parameters. ``refresh_daily`` is the ETL's daily step: after a run's aggregates, it computes the segments as of
the last closed UTC day unless ``etl.segment_days`` says that day is done, in one transaction (a failure leaves the
previous day's segments in place, and the next run tries again). ``compute`` recomputes any day on demand
(idempotent: it replaces that day's rows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date

from clickstream_env import ConfigError
from clickstream_env import integer as _int

from . import queries

SEGMENTS = ("new", "active", "loyal", "at_risk", "lost")


@dataclass(frozen=True)
class Thresholds:
    """The segments' thresholds (the ETL's SEGMENT_* settings; roles/etl defaults etl_segment_*), in days unless
    said otherwise."""

    new_days: int = 7                 # first visit less than this many days before as_of: 'new'
    at_risk_days: int = 30            # latest session this many days or more before as_of: 'at_risk'
    lost_days: int = 90               # ... this many days or more: 'lost'
    window_days: int = 90             # the frequency/monetary window, ending with as_of
    loyal_min_active_days: int = 4    # days with a session in the window for 'loyal'
    loyal_min_purchases: int = 2      # or purchases (events) in the window for 'loyal'

    def __post_init__(self) -> None:
        if not 1 <= self.at_risk_days < self.lost_days:
            raise ConfigError(f"segment thresholds: at_risk_days ({self.at_risk_days}) must be at least 1 and less "
                             f"than lost_days ({self.lost_days})")


def thresholds_from_env(env: Mapping[str, str]) -> Thresholds:
    """SEGMENT_NEW_DAYS, SEGMENT_AT_RISK_DAYS, SEGMENT_LOST_DAYS, SEGMENT_WINDOW_DAYS,
    SEGMENT_LOYAL_MIN_ACTIVE_DAYS, SEGMENT_LOYAL_MIN_PURCHASES (each optional, the defaults above)."""
    d = Thresholds()
    return Thresholds(**{name: _int(env, f"SEGMENT_{name.upper()}", getattr(d, name), 1) for name in asdict(d)})


_COMPUTE = queries.load("segments")["compute"]
_LAST_CLOSED_DAY = "SELECT (now() AT TIME ZONE 'UTC')::date - 1, (SELECT max(session_start) FROM dw.sessions)"
# Done: computed when the warehouse already held a session after the end of that day (it had caught up), or
# nothing newer has been loaded since.
_DONE = """SELECT 1 FROM etl.segment_days
            WHERE as_of = %(as_of)s
              AND (data_through >= (%(as_of)s::date + 1)::timestamp AT TIME ZONE 'UTC'
                   OR data_through IS NOT DISTINCT FROM %(newest)s)"""


def compute(conn, as_of: date, thresholds: Thresholds) -> int:
    """Every client's segment as of the end of ``as_of``, and the day's overview, in one transaction; returns the
    client count."""
    from .connections import transaction  # here: connections imports config, which imports this module

    params = {**asdict(thresholds), "as_of": as_of, "thresholds": json.dumps(asdict(thresholds))}
    with transaction(conn), conn.cursor() as cur:
        for statement in _COMPUTE:
            cur.execute(statement, params)
        cur.execute("SELECT count(*) FROM dw.client_segments")
        return cur.fetchone()[0]


def refresh_daily(conn, thresholds: Thresholds) -> date | None:
    """The daily step: the segments as of the last closed UTC day (by the warehouse's clock), unless already
    computed -- again, though, when they were computed before the warehouse held any session after the end of
    that day (the ETL was behind, or the warehouse was being filled) and newer sessions were loaded since.
    Returns the day computed, or None."""
    from .connections import transaction

    with transaction(conn), conn.cursor() as cur:
        cur.execute(_LAST_CLOSED_DAY)
        as_of, newest = cur.fetchone()
        cur.execute(_DONE, {"as_of": as_of, "newest": newest})
        if cur.fetchone():
            return None
    compute(conn, as_of, thresholds)
    return as_of

"""The business rules of the warehouse, each defined once.

The ETL decides every event and every session in Python with the functions below (``parse``, ``sessions``,
``plan``), however the line was typed and whichever plan sessionized it, and stores what the aggregates need of
them (an event's revenue in dw.events.revenue, a session's flags in dw.sessions). The aggregates are SQL over the
loaded tables and need two rules as SQL, the page view and the page a page view counts for: their forms are built
here (``SQL``, the ``{placeholders}`` of queries/*.sql). Nothing else in the package restates a rule. The tests keep an
independent SQL implementation of the sessionization as their oracle (tests/etl/oracle); tests/etl/test_rules.py
checks every SQL form against its rule.

| rule | the ETL's form | SQL form (the aggregates) |
|---|---|---|
| login state of an event | ``login_state`` | -- |
| freshness window | ``Freshness.problem`` | -- |
| revenue of an event | ``revenue`` (stored as dw.events.revenue) | -- |
| session boundary | ``new_session`` | -- |
| session id | ``session_id`` | -- |
| first visit | ``first_event``, ``first_visit`` | -- |
| page view | ``PAGE_VIEW_EVENTS`` | ``page_view_sql`` |
| page of a page view (journeys, transitions) | -- | ``page_key_sql`` |
| session login state | ``session_logged_in`` | -- |
| engaged session | ``engaged`` | -- |
| converted session | ``converted`` | -- |
| client segment | -- (SQL only) | ``segment_sql`` |

A session's acquisition (source, medium, campaign, GA4 channel group of its first event) is the rule of its own
module, ``acquisition``, with its tables of sites; the labels of a session without one (``{unassigned}``,
``{not_set}``) are its constants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .acquisition import NOT_SET, UNASSIGNED

# --- events -------------------------------------------------------------------------------------------------------

LOGGED_IN, LOGGED_OUT = "logged_in", "logged_out"
LOGIN_STATES = frozenset((LOGGED_IN, LOGGED_OUT))


def login_state(stated: str | None, user_id: str | None) -> str:
    """The event's login state: as the line states it, else logged in exactly when it names a user."""
    if stated is not None:
        return stated
    return LOGGED_IN if user_id is not None else LOGGED_OUT


STALE = ("stale_event", "older than the freshness window before received_at")
FUTURE = ("future_event", "later than the allowed skew after received_at")
NO_RECEIVED = ("missing_field", "received_at")


@dataclass(frozen=True)
class Freshness:
    """An event is kept only from ``freshness`` before its receipt to ``future_skew`` after it. Its receipt is the
    line's ``received_at``, else the raw object's last-modified time; without either the line is rejected."""

    freshness: timedelta
    future_skew: timedelta

    def problem(self, at: datetime, received: datetime | None) -> tuple[str, str] | None:
        """The reject (reason, detail) of an event that happened ``at``, or None when it is kept."""
        if received is None:
            return NO_RECEIVED
        # differences, not received -/+ the window: those would overflow at the ends of datetime's range
        if received - at > self.freshness:
            return STALE
        if at - received > self.future_skew:
            return FUTURE
        return None


PURCHASE = "purchase"
PAGE_VIEW_NAMES = ("page_view", "screen_view")
PAGE_VIEW_EVENTS = frozenset(PAGE_VIEW_NAMES)
_CENT = Decimal("0.01")


def page_view_sql(name: str) -> str:
    return f"{name} IN ({', '.join(repr(n) for n in PAGE_VIEW_NAMES)})"


def page_key_sql(column: str) -> str:
    """The page a page view counts for in page transitions and paths: its ``page_url_path`` without the query string
    (landing pages tagged with gclid / utm_* parameters are the same page as untagged ones; the query string stays in
    dw.events for the session's acquisition)."""
    return f"split_part({column}, '?', 1)"


def revenue(price: str | None, discount: str | None, quantity: str | None) -> Decimal:
    """A purchase's revenue: its discount price, else its price, else 0 (each numeric(14, 2), rounded half away
    from zero as PostgreSQL does), times its quantity, else 1."""
    chosen = discount if discount is not None else price
    value = Decimal(chosen).quantize(_CENT, ROUND_HALF_UP) if chosen is not None else Decimal(0)
    return value * (int(quantity) if quantity is not None else 1)


# --- sessions -----------------------------------------------------------------------------------------------------


def new_session(gap: timedelta, timeout: timedelta) -> bool:
    """A client's event starts a new session when more than ``timeout`` passed since its previous event."""
    return gap > timeout


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_text(ts: datetime) -> str:
    """``extract(epoch FROM ts)::text`` of PostgreSQL 15: numeric with exactly 6 decimals."""
    micros = (ts - EPOCH) // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def session_id(client_id: str, start: datetime) -> str:
    """A session's id: the md5 of its client and start, so that sessionizing the same events again gives it again."""
    h = hashlib.md5(f"{client_id}|{epoch_text(start)}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# A client's first visit is its first event, by time then event id.


def first_event(*events: tuple[datetime, str]) -> tuple[datetime, str]:
    """The first of a client's events given as (time, event id): the first by time, then by event id."""
    return min(events)


def first_visit(index_in_client: int, new_client: bool) -> bool:
    """Whether a new event of a client, at ``index_in_client`` in time then event id order, is the client's first
    visit."""
    return new_client and index_in_client == 0


def session_logged_in(events_logged_in: Iterable[bool]) -> bool:
    """A session is logged in when any of its events is."""
    return any(events_logged_in)

ENGAGED_MIN_SECONDS = 10
ENGAGED_MIN_PAGE_VIEWS = 2


def engaged(duration_ms: int, purchases: int, page_views: int) -> bool:
    """A session is engaged when it lasted more than ENGAGED_MIN_SECONDS, bought, or viewed at least
    ENGAGED_MIN_PAGE_VIEWS pages."""
    return duration_ms > ENGAGED_MIN_SECONDS * 1000 or purchases > 0 or page_views >= ENGAGED_MIN_PAGE_VIEWS


def converted(purchases: int) -> bool:
    """A session converted when it holds a purchase."""
    return purchases > 0


def segment_sql(as_of: str, threshold: str) -> str:
    """The client segment rule (queries/segments.sql; docs/warehouse.md, "Client segments") as a SQL CASE over the
    columns first_visit_date, last_active_date, active_days and purchases of a client as of the date ``as_of`` (a
    SQL expression); ``threshold`` formats a threshold's name (segments.Thresholds) into its SQL form (a parameter,
    a column). The first segment that holds wins."""
    t = {name: threshold.format(name) for name in ("new_days", "lost_days", "at_risk_days", "loyal_min_active_days",
                                                   "loyal_min_purchases")}
    return (f"CASE WHEN {as_of} - first_visit_date < {t['new_days']} THEN 'new'"
            f" WHEN {as_of} - last_active_date >= {t['lost_days']} THEN 'lost'"
            f" WHEN {as_of} - last_active_date >= {t['at_risk_days']} THEN 'at_risk'"
            f" WHEN active_days >= {t['loyal_min_active_days']} OR purchases >= {t['loyal_min_purchases']}"
            " THEN 'loyal' ELSE 'active' END")


# A client's history before the day of a session (d.client_id, d.session_date), in the segment rule's window of
# etl.segment_rule r: the columns segment_sql reads, from dw.sessions (a LATERAL subquery, alias h).
_HISTORY_BEFORE_DAY = (
    "SELECT min(p.session_date) FILTER (WHERE p.is_first_visit) AS first_visit_date,"
    " max(p.session_date) AS last_active_date,"
    " count(DISTINCT p.session_date) FILTER (WHERE p.session_date > d.session_date - 1 - r.window_days) AS active_days,"
    " coalesce(sum(p.purchase_count) FILTER (WHERE p.session_date > d.session_date - 1 - r.window_days), 0)"
    " AS purchases"
    " FROM dw.sessions p"
    " WHERE p.client_id = d.client_id AND p.session_start < d.session_date::timestamp AT TIME ZONE 'UTC'")


# The SQL forms, by the names the .sql files use as {placeholders} (queries/__init__.py).
SQL = {
    "purchase": f"'{PURCHASE}'",
    "page_view": page_view_sql("event_name"),
    "page_view_e": page_view_sql("e.event_name"),
    "page_key": page_key_sql("page_url_path"),
    "page_key_e": page_key_sql("e.page_url_path"),
    # the segment as of the daily step's day (queries/segments.sql)
    "segment": segment_sql("%(as_of)s::date", "%({})s"),
    # the segment of a session: its client's as of the end of the day before the session's day d.session_date, from
    # the client's sessions before that day (h: segment_history_before_day), 'new' without any; the one definition
    # of queries/dims.sql (dw.agg_hourly_dims and the filters built on its sessions) and queries/journeys.sql
    "segment_of_session_day": "CASE WHEN h.last_active_date IS NULL THEN 'new' ELSE "
                              + segment_sql("(d.session_date - 1)", "r.{}") + " END",
    "segment_history_before_day": _HISTORY_BEFORE_DAY,
    # a session without acquisition (written before sql/dw/0031): channel group Unassigned, source, medium and
    # campaign (not set), in every aggregate that keys on them (sql/dw/0045 relabelled the older rows)
    "unassigned": f"'{UNASSIGNED}'",
    "not_set": f"'{NOT_SET}'",
}

"""Attribution: purchases and revenue credited to acquisition channels (sql/dw/0038, 0039; docs/warehouse.md,
"Attribution").

``dw.agg_daily_attribution`` holds, per day of the purchase, model and channel (the credited session's channel
group, source, medium and campaign: dw.sessions', from acquisition.py), the purchases and revenue credited under
first-touch, last non-direct touch and linear models over the client's sessions within the lookback window. Each
purchase's credits (``dw.agg_attribution_members``) are a function of the client's sessions up to the purchase's own
(queries/attribution.sql, ``members``: the one definition). The incremental apply, in the apply's 'sessions' part
(``APPLY``, registered in aggregates.py), recomputes the credits of the pending clients' purchases from their window
start on -- nothing before it changed --, adds the difference to the aggregate and replaces them: applying it again
changes nothing. ``rebuild`` recomputes the purchases of the dirty days and of the lookback after them (a session
changed on a day is in the window of purchases up to the lookback later): the rebuild command's part, and the tests'
oracle.

The lookback (``ATTRIBUTION_LOOKBACK_DAYS``, 30 days by default) is kept in ``etl.attribution_settings``, which the
apply and the rebuild read: a run that is given another value (``configure``) stores it and recomputes every
purchase the warehouse holds, in one transaction, so the kept credits always follow one lookback; the first run after
migration 0039 does the same for the purchases the warehouse already held.
"""

from __future__ import annotations

from datetime import date, timedelta

from . import attribution_dims, queries, sql

DEFAULT_LOOKBACK_DAYS = 30
MAX_LOOKBACK_DAYS = 366  # etl.attribution_settings' bound (sql/dw/0039)

_Q = queries.load("attribution")
# The incremental apply's statements (aggregates.py, part 'sessions'): the pending purchases, their credits now, the
# difference.
# One script with the planner's index plans (sql.INDEX_ONLY), as the apply's reads of the facts: a few rows of each
# pending client, through the (client_id, event_timestamp) and (client_id, session_start) indexes.
APPLY = [sql.script(sql.INDEX_ONLY, [*_Q["pending"], *_Q["members"], *_Q["apply"]])]
_REBUILD = [*_Q["days"], *_Q["members"], *_Q["rebuild"]]


def lookback_days(cur) -> int:
    cur.execute("SELECT lookback_days FROM etl.attribution_settings")
    return cur.fetchone()[0]


def recompute(cur, d0: date, d1: date) -> None:
    """Recompute both tables for the purchases of the days from ``d0`` to before ``d1`` (in the caller's
    transaction)."""
    for statement in _REBUILD:
        cur.execute(statement, {"d0": d0, "d1": d1})


def rebuild_ranges(days: list[date], lookback: int) -> list[tuple[date, date]]:
    """The [start, end) day ranges whose purchases a rebuild of ``days`` recomputes: each day and the ``lookback``
    days after it (a purchase's window reaches back ``lookback`` days), merged."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        end = d + timedelta(days=1 + lookback)
        if out and d <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((d, end))
    return out


def rebuild(cur, days: list[date]) -> None:
    """Recompute the credits of the purchases of the dirty ``days`` and of the lookback after each."""
    for d0, d1 in rebuild_ranges(days, lookback_days(cur)):
        recompute(cur, d0, d1)


def configure(conn, days: int) -> bool:
    """Make ``days`` the lookback of the kept credits: when it differs from the stored one, or the credits were never
    computed (the first run after migration 0039), store it and recompute the credits of every purchase in
    ``dw.events``, in one transaction (days whose events left the warehouse -- the lake's hot window -- keep theirs).
    Returns whether it recomputed. The caller holds the ETL's lock."""
    if not 1 <= days <= MAX_LOOKBACK_DAYS:
        raise ValueError(f"attribution lookback must be 1 to {MAX_LOOKBACK_DAYS} days, got {days}")
    from .connections import transaction  # here: connections imports config, which imports this module's bounds

    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT lookback_days, credited FROM etl.attribution_settings FOR UPDATE")
        if cur.fetchone() == (days, True):
            return False
        cur.execute("UPDATE etl.attribution_settings SET lookback_days = %s, credited = true", (days,))
        cur.execute("""SELECT min(event_timestamp AT TIME ZONE 'UTC')::date,
                                max(event_timestamp AT TIME ZONE 'UTC')::date
                           FROM dw.events WHERE event_name = 'purchase'""")
        first, last = cur.fetchone()
        if first is not None:
            recompute(cur, first, last + timedelta(days=1))
            attribution_dims.rebuild(cur, first)  # the credits under device and segment follow them
    return True

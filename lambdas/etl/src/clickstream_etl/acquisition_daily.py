"""Sessions per day and acquisition (sql/dw/0044; docs/warehouse.md, "Daily acquisition").

``dw.agg_daily_acquisition`` counts, per UTC day of the session's start, login state, channel group, source, medium
and campaign (the session's acquisition, ``acquisition``), the sessions, engaged, converted and first-visit
sessions and their revenue: the Acquisition dashboard's channels and campaigns. One statement adds a set of
signed sessions to it (queries/acquisition_daily.sql, ``add``): the incremental apply adds the pending clients'
sessions as kept (-1) and now (+1) (``APPLY``, in the apply's 'sessions' part, registered in aggregates.py; the
kept sessions carry their acquisition in etl.delta_sfacts), the rebuild clears a range of days and adds its
sessions (``rebuild``, registered in rebuild.py).
"""

from __future__ import annotations

from datetime import date

from . import queries

_Q = queries.load("acquisition_daily")
APPLY = [*_Q["pending"], *_Q["add"]]
REBUILD = [*_Q["range"], *_Q["add"]]


def rebuild(cur, ranges: list[tuple[date, date]]) -> None:
    """Recompute the table for each [d0, d1) of ``ranges`` from dw.sessions (in the caller's transaction)."""
    for d0, d1 in ranges:
        for statement in REBUILD:
            cur.execute(statement, {"d0": d0, "d1": d1})

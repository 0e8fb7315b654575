"""Journeys by channel, device and segment, and the sessions the common paths read (sql/dw/0048; docs/warehouse.md,
"Journeys and retention by channel, device and segment").

``dw.session_journeys`` holds one row per session: its login state, channel group, device category and segment (its
client's as of the end of the day before the session's day, the rule of dw.agg_hourly_dims) and its page views'
pages in order with the day of each (queries/journeys.sql, ``rows``: the one definition).
``dw.agg_daily_transitions_dims`` holds the page transitions of those rows (``dw.journey_transitions``) per day and
dimension. A batch changes a client only from its window start on, and no session of an earlier day nor its
segment, so the incremental apply recomputes
the pending clients' rows of the sessions from the day of their window start on, adds the transitions of the new rows
minus those of the kept ones to the aggregate and replaces the rows; it runs in the apply's 'sessions' part (``APPLY``,
registered in aggregates.py). Applying it again changes nothing. ``rebuild`` recomputes the rows of the sessions from
the first dirty day on and the aggregate from every row: the rebuild command's part, and the tests' oracle.
"""

from __future__ import annotations

from datetime import date

from . import queries

_Q = queries.load("journeys")
# The incremental apply's statements (aggregates.py, part 'sessions'): the pending clients, their rows now, the
# difference.
APPLY = [*_Q["pending"], *_Q["rows"], *_Q["apply"]]
REBUILD = [*_Q["everyone"], *_Q["rows"], *_Q["rebuild"]]


def rebuild(cur, first_dirty_day: date) -> None:
    """Recompute the sessions' rows from ``first_dirty_day`` on (days after the dirty ones too: a session's segment
    depends on the client's earlier sessions) and the transitions' aggregate (in the caller's transaction)."""
    for statement in REBUILD:
        cur.execute(statement, {"d0": first_dirty_day})

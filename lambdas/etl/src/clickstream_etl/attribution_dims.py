"""Attribution under the device and segment filters (sql/dw/0054; docs/warehouse.md, "Attribution by device and
segment").

``dw.agg_daily_attribution_dims`` is ``dw.agg_daily_attribution`` with two more keys, those of the credited (touch)
session, as analytics tools split a model's credit: a model gives each purchase's credit to touch sessions
(attribution.py), and each touch session has its own device category (dw.sessions') and segment (its client's as of
the end of the day before the session's day: rules.SQL's ``segment_of_session_day``, the rule of queries/dims.sql).
"Credit with device = mobile" is the credit given to mobile touch sessions; summed over the device and segment
values, the credit is the unfiltered one. A credit falls on the day of its purchase (UTC), as in
dw.agg_daily_attribution.

Its rows are a function of the credits (``dw.agg_attribution_members``) and of the touch sessions' clients' sessions
(queries/attribution_dims.sql, ``members``: the one definition). The incremental apply runs in the apply's
'sessions' part right after ``attribution.APPLY`` (registered in aggregates.py): from the credits that step has just
made for the pending clients' purchases from their window start on (nothing before it changed: not the credits,
not the touch sessions, not their segments, which depend on earlier days' sessions only), it adds the difference
to the aggregate and replaces the clients' rows (``dw.agg_attribution_dims_members``): applying it again changes
nothing. ``rebuild`` recomputes both tables from the first dirty day on for every purchase, from the credits
``attribution.rebuild`` has just made (a changed session changes the segment of every later session of its client,
so later purchases too), and ``attribution.configure`` calls it from the first purchase on when it recomputes every
credit.
"""

from __future__ import annotations

from datetime import date

from . import queries, sql

_Q = queries.load("attribution_dims")
# The incremental apply's statements (aggregates.py, part 'sessions', after attribution.APPLY), in one script with
# the planner's index plans (sql.INDEX_ONLY), as attribution.APPLY: a few rows of each pending client.
APPLY = [sql.script(sql.INDEX_ONLY, [*_Q["pending"], *_Q["members"], *_Q["apply"]])]
REBUILD = [*_Q["everyone"], *_Q["members"], *_Q["rebuild"]]


def rebuild(cur, first_dirty_day: date) -> None:
    """Recompute both tables from ``first_dirty_day`` on, for every purchase, from the credits
    ``attribution.rebuild`` has just made (in the caller's transaction, after it)."""
    for statement in REBUILD:
        cur.execute(statement, {"d0": first_dirty_day})

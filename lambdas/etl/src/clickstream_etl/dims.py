"""Channel, device and segment filters (sql/dw/0041; docs/warehouse.md, "Channel, device and segment filters").

``dw.agg_hourly_dims`` holds the overview's and the funnel's measures per hour, session login state, channel group,
device category and segment -- the segment of a session being its client's as of the end of the day before the
session's day (queries/dims.sql). A client's rows (``dw.agg_dims_members``) from a day on are a function of its
events from that day on and of its sessions (queries/dims.sql, ``members``: the one definition). A batch changes a
client only from its window start on, and nothing the rows of earlier days depend on (events, sessions, or the
sessions before a day that decide its segment), so the incremental apply recomputes the pending clients' rows from
the day of their window start, adds the difference to the aggregate and replaces them; it runs in the apply's
'sessions' part (``APPLY``, registered in aggregates.py). Applying it again changes nothing, whatever the kept facts.
``rebuild`` recomputes both tables from the first dirty day on for every client: the rebuild command's part, and the
tests' oracle.
"""

from __future__ import annotations

from datetime import date

from . import queries

_Q = queries.load("dims")
# The incremental apply's statements (aggregates.py, part 'sessions'): the pending clients, their rows now, the
# difference.
APPLY = [*_Q["pending"], *_Q["members"], *_Q["apply"]]
REBUILD = [*_Q["everyone"], *_Q["members"], *_Q["rebuild"]]


def rebuild(cur, first_dirty_day: date) -> None:
    """Recompute both tables from ``first_dirty_day`` on, for every client (in the caller's transaction). Days
    after the dirty ones too: a session's segment depends on the client's earlier sessions."""
    for statement in REBUILD:
        cur.execute(statement, {"d0": first_dirty_day})

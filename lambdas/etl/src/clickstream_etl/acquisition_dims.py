"""The Acquisition dashboard under the device and segment filters (sql/dw/0046; docs/warehouse.md, "Acquisition by
device and segment").

``dw.agg_daily_acquisition_dims`` is ``dw.agg_daily_acquisition`` with two more keys: the session's device category
and its segment (its client's as of the end of the day before the session's day: the rule of the dims aggregate,
queries/dims.sql). Its upkeep is the dims aggregate's (dims.py): a client's rows (``dw.agg_acquisition_dims_members``)
from a day on are a function of its sessions from that day on and of the earlier sessions that decide their
segment, so the incremental apply recomputes the pending clients' rows from the day of their window start (from the
sessions with segments the dims step has just made: ``etl_dims_sd``), adds the difference and replaces them
(``APPLY``, registered in aggregates.py after ``dims.APPLY``); ``rebuild`` recomputes both tables from the first
dirty day on for every client, right after ``dims.rebuild`` (registered in rebuild.py).
"""

from __future__ import annotations

from datetime import date

from . import queries

_Q = queries.load("acquisition_dims")
APPLY = [*_Q["members"], *_Q["apply"]]
REBUILD = [*_Q["members"], *_Q["rebuild"]]


def rebuild(cur, first_dirty_day: date) -> None:
    """Recompute both tables from ``first_dirty_day`` on, for every client, from the sessions ``dims.rebuild`` has
    just read (in the caller's transaction, after it)."""
    for statement in REBUILD:
        cur.execute(statement, {"d0": first_dirty_day})

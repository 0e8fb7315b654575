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

The overview's distinct users under the filters (``dw.agg_daily_users_dims``, sql/dw/0047) come from the same
members: each client's active days with their keys, in the 16 combinations with '(all)', each with its previous
active day under the same keys (queries/acquisition_dims.sql, ``users_days``: the one definition). The apply reads
the pending clients' days before the members are replaced (-1) and after (+1) and adds the difference; a day's
previous day depends only on earlier days, so the rows before the window start do not change.
"""

from __future__ import annotations

from datetime import date

from . import queries

_Q = queries.load("acquisition_dims")


def _users(sign: int) -> list[str]:
    """The users-under-filters days of etl_dims_clients as the members hold them now, with ``sign``."""
    return [statement.replace("__SIGN__", str(sign)) for statement in _Q["users_days"]]


# The users' days as kept (-1) before the members are replaced, as now (+1) after, and their difference applied.
APPLY = [*_Q["members"], *_users(-1), *_Q["apply"], *_users(1), *_Q["users_apply"]]
REBUILD = [*_Q["members"], *_Q["rebuild"], *_Q["users_rebuild"], *_users(1), *_Q["users_apply"]]


def rebuild(cur, first_dirty_day: date) -> None:
    """Recompute the three tables from ``first_dirty_day`` on, for every client, from the sessions ``dims.rebuild``
    has just read (in the caller's transaction, after it)."""
    for statement in REBUILD:
        cur.execute(statement, {"d0": first_dirty_day})

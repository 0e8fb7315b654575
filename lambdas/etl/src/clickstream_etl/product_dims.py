"""The Products dashboard under the channel, device and segment filters (sql/dw/0047; docs/warehouse.md, "Products
by channel, device and segment").

``dw.agg_daily_product_dims`` is ``dw.agg_daily_product`` with three more keys: the channel group, device category
and segment of the event's session (the rules of the dims aggregate, queries/dims.sql). Its upkeep is the dims
aggregate's (dims.py): a client's rows (``dw.agg_product_dims_members``) from a day on are a function of its events
from that day on and of their sessions' keys, so the incremental apply recomputes the pending clients' rows from the
day of their window start (with the sessions the dims step has just made: ``etl_dims_sd``), adds the difference and
replaces them (``APPLY``, registered in aggregates.py after ``dims.APPLY``); ``rebuild`` recomputes both tables from
the first dirty day on for every client, after ``dims.rebuild`` (registered in rebuild.py).
"""

from __future__ import annotations

from datetime import date

from . import queries

_Q = queries.load("product_dims")
APPLY = [*_Q["members"], *_Q["apply"]]
REBUILD = [*_Q["members"], *_Q["rebuild"]]


def rebuild(cur, first_dirty_day: date) -> None:
    """Recompute both tables from ``first_dirty_day`` on, for every client, from the sessions ``dims.rebuild`` has
    just read (in the caller's transaction, after it)."""
    for statement in REBUILD:
        cur.execute(statement, {"d0": first_dirty_day})

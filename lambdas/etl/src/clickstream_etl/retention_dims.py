"""Retention cohorts by channel, device and segment (sql/dw/0048; docs/warehouse.md, "Journeys and retention by
channel, device and segment").

``dw.agg_weekly_retention_dims`` is ``dw.agg_weekly_retention`` (retention.py) per channel group, device category and
segment of the cohort's session: the session holding the client's first visit for new clients, its first converted
session for purchasers, whose dimensions ``dw.session_journeys`` holds (journeys.py, which runs first). A client's rows
(``dw.agg_retention_dims_members``) are a function of its sessions and their rows there (queries/retention_dims.sql,
``members``), so the incremental apply recomputes them for the pending clients, adds the difference to the aggregate
and replaces them (apply part 'sessions', registered in aggregates.py). ``rebuild`` recomputes both tables for every
client.
"""

from __future__ import annotations

from . import queries

_Q = queries.load("retention_dims")
APPLY = [*_Q["pending"], *_Q["members"], *_Q["apply"]]
REBUILD = [*_Q["everyone"], *_Q["members"], *_Q["rebuild"]]


def rebuild(cur) -> None:
    """Recompute both tables from every client's sessions (in the caller's transaction), after journeys.rebuild."""
    for statement in REBUILD:
        cur.execute(statement)

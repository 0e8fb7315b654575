"""Weekly retention cohorts (sql/dw/0033; docs/warehouse.md, "Retention cohorts").

``dw.agg_weekly_retention`` counts, per cohort kind, cohort week and later week, the cohort's clients active that
week: new clients by the week of their first visit (active = started a session), purchasers by the week of their
first purchase (active = purchased again). A client's rows (``dw.agg_retention_members``) are a function of all its
sessions (queries/retention.sql, ``members``: the one definition), so the incremental apply recomputes them for
the pending clients, adds the difference to the aggregate and replaces them; it runs in the apply's 'sessions'
part (``APPLY``, registered in aggregates.py). Applying it again changes nothing, whatever the kept facts.
``rebuild`` recomputes both tables for every client: the rebuild command's part, and the tests' oracle.
"""

from __future__ import annotations

from . import queries

_Q = queries.load("retention")
# The incremental apply's statements (aggregates.py, part 'sessions'): the pending clients, their rows now, the
# difference.
APPLY = [*_Q["pending"], *_Q["members"], *_Q["apply"]]
REBUILD = [*_Q["everyone"], *_Q["members"], *_Q["rebuild"]]


def rebuild(cur) -> None:
    """Recompute both retention tables from every client's sessions (in the caller's transaction)."""
    for statement in REBUILD:
        cur.execute(statement)

"""The lake's outbox rows, written in the load's own transaction (``load``; ``lake.export`` reads them). Imports
nothing of the lake's libraries: the load's hot path stays as it is."""

from __future__ import annotations

import psycopg2.extras

INSERT = "INSERT INTO etl.lake_outbox (source_file, events) VALUES %s ON CONFLICT (source_file) DO NOTHING"


def record(cur, rows: list[tuple[str, int]]) -> None:
    """The outbox rows (source_file, new events) of the objects whose load added events."""
    rows = [r for r in rows if r[1] > 0]
    if rows:
        psycopg2.extras.execute_values(cur, INSERT, rows)

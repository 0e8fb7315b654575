"""The lake's views (``sql/lake/*.sql``): the dashboards' numbers as Trino (Athena) SQL over the Iceberg tables
``events`` and ``sessions``. The views restate no business rule: they read the ETL's stored results (an event's
``revenue``; a session's boundaries, login state and flags in ``sessions``), and the one rule the aggregates need
as SQL, the page view, is the ``{page_view_e}`` placeholder of ``rules.SQL`` (with ``{purchase}``), filled in
here. An event's session is the lake session that holds it (same client, between its start and end): the events
table keeps the session id assigned when the event was exported, which a later late event may have changed.
``statements(..., dialect="duckdb")`` translates them with sqlglot for DuckDB (the local runs and tests:
docs/lake.md, "Queries").
"""

from __future__ import annotations

from pathlib import Path

from ..rules import SQL

# sql/lake beside the repository's lambdas/ (the views are created by the platform, not by the Lambda)
VIEWS_DIR = Path(__file__).resolve().parents[5] / "sql" / "lake"


def view_sql(name: str, views_dir: Path = VIEWS_DIR) -> str:
    """The SELECT of view ``name`` (file ``name.sql``) in Trino SQL, placeholders filled in."""
    return (views_dir / f"{name}.sql").read_text().format(**SQL)


def names(views_dir: Path = VIEWS_DIR) -> list[str]:
    return sorted(p.stem for p in views_dir.glob("*.sql"))


def statements(dialect: str = "trino", views_dir: Path = VIEWS_DIR) -> dict[str, str]:
    """``CREATE OR REPLACE VIEW name AS ...`` of every view, in Trino SQL or translated to ``dialect``."""
    out = {}
    for name in names(views_dir):
        create = f"CREATE OR REPLACE VIEW {name} AS\n{view_sql(name, views_dir)}"
        if dialect != "trino":
            import sqlglot

            create = sqlglot.transpile(create, read="trino", write=dialect)[0]
        out[name] = create
    return out


def main() -> None:
    """``python -m clickstream_etl.lake.views``: every view's SELECT in Trino SQL as JSON (name -> SQL), for the
    Ansible task that creates them in Athena (``clickstream.platform.athena_views``)."""
    import json

    print(json.dumps({name: view_sql(name) for name in names()}, indent=1))


if __name__ == "__main__":
    main()

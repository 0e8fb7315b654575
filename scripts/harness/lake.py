"""DuckDB over the lake's Iceberg tables in the emulator, for tests: DuckDB with its avro, httpfs and iceberg
extensions (the PyPI packages duckdb-ext-*: DuckDB cannot download extensions here) reading the tables the ETL's
lake export wrote, through the emulator's S3 (docs/lake.md, "Queries").
"""

from __future__ import annotations

from pathlib import Path

REGION = "us-east-1"


def extension_dir() -> str:
    """Where the duckdb-ext-* packages put their extensions."""
    import duckdb

    site = Path(duckdb.__file__).resolve().parent.parent
    return str(site / "duckdb_ext" / "extensions")


def duckdb_connection(endpoint: str):
    """DuckDB (UTC) with httpfs + iceberg loaded and a secret for the emulator's S3 at ``endpoint``
    (http://127.0.0.1:PORT)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET extension_directory = ?", [extension_dir()])
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("LOAD httpfs")
    con.execute("LOAD avro")  # the iceberg extension reads manifests with it
    con.execute("LOAD iceberg")
    con.execute("SET TimeZone = 'UTC'")
    host = endpoint.split("://", 1)[1].rstrip("/")
    con.execute(f"""CREATE SECRET emulator (TYPE s3, KEY_ID 'testing', SECRET 'testing', REGION '{REGION}',
                    ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)""")
    return con


def attach_tables(con, tables: dict[str, object]) -> None:
    """DuckDB views ``events`` / ``sessions`` over the Iceberg tables' (pyiceberg ``Table``) current metadata."""
    for name, table in tables.items():
        table.refresh()
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM iceberg_scan('{table.metadata_location}')")  # noqa: S608

"""Clickstream ETL: raw NDJSON objects in S3 -> sessionized, exactly-once PostgreSQL warehouse tables.

Nothing here does I/O at import time. Entry points: ``clickstream_etl.handler.handler`` (Lambda) and
``python -m clickstream_etl`` (CLI). docs/warehouse.md describes the tables and the guarantees.
"""

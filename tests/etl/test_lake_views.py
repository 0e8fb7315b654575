"""The lake's views (sql/lake, Trino SQL translated by sqlglot) on DuckDB over the Iceberg tables that the real
ETL's lake export wrote into the emulator's S3 and Glue, against the warehouse's aggregates: the golden dataset
loaded by the real ETL (lake on) into a real PostgreSQL, every day closed, gives the same numbers from both."""

from __future__ import annotations

from decimal import Decimal

import pytest
from clickstream_etl.lake import views

from scripts.harness import lake as duck

from .golden import D, all_runs

pytestmark = pytest.mark.integration

# view -> (warehouse aggregate, columns in both, key columns)
COMPARED = {
    "lake_hourly_activity": ("dw.agg_hourly_activity",
                             "activity_hour, activity_date, user_login_state, events, page_views, view_items, "
                             "add_to_carts, begin_checkouts, purchases, revenue, active_clients, active_users, "
                             "active_sessions, sessions_started, first_visits", "1, 3"),
    "lake_daily_sessions": ("dw.agg_daily_sessions",
                            "activity_date, user_login_state, sessions, engaged_sessions, converted_sessions, "
                            "first_visit_sessions, clients, page_views, total_duration_seconds, revenue", "1, 2"),
    "lake_daily_funnel": ("dw.agg_daily_funnel",
                          "activity_date, product_category, product_brand, user_login_state, view_item_sessions, "
                          "add_to_cart_sessions, begin_checkout_sessions, purchase_sessions", "1, 2, 3, 4"),
    "lake_daily_product": ("dw.agg_daily_product",
                           "activity_date, product_id, product_category, product_brand, user_login_state, "
                           "product_name, views, add_to_carts, purchases, units, revenue, viewing_sessions",
                           "1, 2, 3, 4, 5"),
    "lake_daily_page_transitions": ("dw.agg_daily_page_transitions",
                                    "activity_date, user_login_state, from_page, to_page, transitions",
                                    "1, 2, 3, 4"),
}


def _norm(rows) -> list[tuple]:
    """Numbers as decimals to the thousandth (DuckDB's and PostgreSQL's integer and decimal types differ),
    timestamps in UTC."""
    def one(v):
        if isinstance(v, Decimal | float) or (isinstance(v, int) and not isinstance(v, bool)):
            return Decimal(v).quantize(Decimal("0.001"))
        if hasattr(v, "astimezone") and hasattr(v, "hour"):
            return v.astimezone(D.tzinfo)
        return v
    return [tuple(one(v) for v in r) for r in rows]


def _warehouse(world) -> dict[str, list[tuple]]:
    return {v: _norm(world.query(f"SELECT {cols} FROM {table} ORDER BY {keys}"))  # noqa: S608 - constants
            for v, (table, cols, keys) in COMPARED.items()}


def _lake_tables(world, lake: dict) -> dict[str, object]:
    from clickstream_etl.lake import catalog, schema

    cat = catalog.load(world.moto.env())
    return {t: cat.load_table((lake["LAKE_DATABASE"], t)) for t in schema.TABLES}


def _views(con) -> dict[str, list[tuple]]:
    for statement in views.statements("duckdb").values():
        con.execute(statement)
    return {v: _norm(con.execute(f"SELECT {cols} FROM {v} ORDER BY {keys}").fetchall())  # noqa: S608
            for v, (_, cols, keys) in COMPARED.items()}


def test_views_on_the_exported_lake_equal_the_warehouse_aggregates(world, moto_server, lake):
    for files in all_runs():  # late events, duplicates and sessions that grow across the runs
        for key, body in files.items():
            world.put(key, body)
        result = world.run_cli(env=world.env(**lake))
        assert result["status"] == "succeeded", result
    # the golden days are closed: the export has written their sessions
    assert world.query("SELECT count(*) FROM etl.lake_session_days") == [(0,)]
    aggregates = _warehouse(world)
    assert all(aggregates.values())  # every view has rows to compare
    assert sum(r[3] for r in aggregates["lake_hourly_activity"]) == world.query("SELECT count(*) FROM dw.events")[0][0]

    con = duck.duckdb_connection(moto_server.url)
    duck.attach_tables(con, _lake_tables(world, lake))
    # the lake holds what the real export wrote: every warehouse event once, with its stored revenue
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (
        world.query("SELECT count(*), count(DISTINCT event_id) FROM dw.events")[0])
    assert _norm(con.execute("SELECT sum(revenue) FROM events").fetchall()) == _norm(
        world.query("SELECT sum(revenue) FROM dw.events"))
    assert _views(con) == aggregates

"""The batches' incremental aggregates equal a recompute from dw.events / dw.sessions (rebuild.rebuild_dirty_days),
which runs on two connections, gives the same tables on one, and is all or nothing when a half fails."""

from __future__ import annotations

import psycopg2
import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import apply_migrations
from clickstream_etl import aggregates, rebuild

from .helpers import AGGREGATES, REPO
from .test_faults import _files


def _run(world) -> str:
    return world.run_in_process(batch_max_files=2)


def _load(world) -> dict:
    assert _run(world) == "succeeded"
    return world.snapshot()


@pytest.fixture
def loaded(world):
    """The fault tests' seven objects (batches of two: sessions continue across batches), loaded incrementally."""
    for key, body in _files().items():
        world.put(key, body)
    return world, _load(world)


def test_incremental_aggregates_equal_a_recompute_on_two_connections_and_on_one(loaded, monkeypatch):
    world, incremental = loaded
    # (these objects have no user ids, product names or purchases: the golden, random-history and attribution
    # tests cover those tables)
    assert all(incremental[t] for t in AGGREGATES if t not in ("dw.agg_user_hours", "dw.agg_product_names",
                                                               "dw.agg_daily_attribution",
                                                               "dw.agg_attribution_members",
                                                               "dw.agg_daily_attribution_dims",
                                                               "dw.agg_attribution_dims_members"))
    assert world.query("SELECT count(*) FROM etl.dirty_days") == [(0,)]  # the batches leave nothing to refresh
    opened = []
    real = rebuild.sibling_connection

    def spy(conn):
        other = real(conn)
        opened.append(other)
        return other

    monkeypatch.setattr(rebuild, "sibling_connection", spy)
    assert world.rebuilt() == incremental
    assert len(opened) == 1 and opened[0] is not None and opened[0].closed

    monkeypatch.setattr(rebuild, "sibling_connection", lambda conn: None)
    assert world.rebuilt() == incremental


def test_a_failing_half_commits_neither_half_and_the_next_run_refreshes_the_days(loaded, monkeypatch):
    world, reference = loaded
    world.wipe_aggregates()  # e.g. days an earlier version of the ETL left dirty
    real = rebuild.rebuild_engagement

    def fail_after(cur, days):
        real(cur, days)  # its rows are written in its transaction, then it fails
        raise RuntimeError("injected: the second connection failed")

    monkeypatch.setattr(rebuild, "rebuild_engagement", fail_after)
    with pytest.raises(RuntimeError, match="injected"):
        _run(world)
    for table in AGGREGATES:
        assert world.query(f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608 - constant names
    assert world.query("SELECT count(*) FROM etl.dirty_days")[0][0] > 0

    monkeypatch.setattr(rebuild, "rebuild_engagement", real)
    assert _run(world) == "succeeded"
    assert world.snapshot() == reference


@pytest.mark.parametrize("beside", [True, False])
def test_the_apply_runs_its_two_parts_on_two_connections_or_on_one(world, monkeypatch, beside):
    for key, body in _files().items():
        world.put(key, body)
    opened = []
    real = aggregates.sibling_connection

    def sibling(conn):
        other = real(conn) if beside else None
        opened.append(other)
        return other

    monkeypatch.setattr(aggregates, "sibling_connection", sibling)
    incremental = _load(world)
    assert opened and all((o is not None and o.closed) if beside else o is None for o in opened)
    assert world.query("SELECT count(*) FROM etl.delta_applied") == [(0,)]
    assert world.rebuilt() == incremental


@pytest.mark.parametrize("beside", [True, False])
def test_a_failing_part_leaves_the_other_in_and_the_next_run_applies_only_the_missing_one(loaded, monkeypatch,
                                                                                         beside):
    world, reference = loaded
    world.fresh_database()
    if not beside:
        monkeypatch.setattr(aggregates, "sibling_connection", lambda conn: None)
    real = aggregates._apply_part

    def products_fail(conn, part):
        if part == "products":
            raise RuntimeError("injected: the products part failed")
        real(conn, part)

    monkeypatch.setattr(aggregates, "_apply_part", products_fail)
    with pytest.raises(RuntimeError, match="injected"):
        _run(world)
    # 'products' failed before 'sessions', which follows it on the same connection (one lane or the only one)
    assert world.query("SELECT part FROM etl.delta_applied") == [("activity",)]
    assert world.query("SELECT count(*) FROM etl.delta_clients")[0][0] > 0
    assert world.query("SELECT count(*) FROM dw.agg_hourly_activity")[0][0] > 0  # the activity part is in
    assert world.query("SELECT count(*) FROM dw.agg_daily_funnel") == [(0,)]
    assert world.query("SELECT count(*) FROM dw.agg_daily_sessions") == [(0,)]

    applied = []
    monkeypatch.setattr(aggregates, "_apply_part", lambda conn, part: applied.append(part) or real(conn, part))
    assert _run(world) == "succeeded"
    # the next run's start finishes the cut apply; its batches load nothing new
    assert sorted(applied) == ["products", "sessions"]
    assert world.snapshot() == reference


def test_an_apply_cut_by_the_two_part_version_is_finished_without_applying_its_sessions_twice(loaded):
    """Migration 0008 moved daily sessions and client returns out of the 'activity' part into 'sessions'. A run of
    the previous version cut after its 'activity' part had committed had already applied their change: the migration
    marks 'sessions' as in, so that the next run applies only 'products'."""
    world, reference = loaded
    world.fresh_database()
    real = aggregates._apply_part

    def cut_before_products(conn, part):  # the old 'activity' part held activity + sessions; then the kill
        if part == "products":
            real(conn, "sessions")
            raise RuntimeError("killed before the products part")
        real(conn, part)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aggregates, "_apply_part", cut_before_products)
        with pytest.raises(RuntimeError, match="killed"):
            _run(world)
    assert world.query("SELECT part FROM etl.delta_applied ORDER BY 1") == [("activity",), ("sessions",)]
    conn = psycopg2.connect(world.dsn)
    try:
        with conn.cursor() as cur:  # back to what the previous version left: its constraint, its marks, no 0008
            cur.execute("DELETE FROM etl.delta_applied WHERE part = 'sessions'")
            cur.execute("ALTER TABLE etl.delta_applied DROP CONSTRAINT delta_applied_part_check")
            cur.execute("ALTER TABLE etl.delta_applied ADD CONSTRAINT delta_applied_part_check "
                        "CHECK (part IN ('activity', 'products'))")
            cur.execute("DELETE FROM public.schema_migrations WHERE version = '0008'")
        conn.commit()
        assert apply_migrations(conn, str(REPO / "sql" / "dw")) == ["0008_apply_sessions_part.sql"]
    finally:
        conn.close()
    assert world.query("SELECT part FROM etl.delta_applied ORDER BY 1") == [("activity",), ("sessions",)]
    applied = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aggregates, "_apply_part", lambda conn, part: applied.append(part) or real(conn, part))
        assert _run(world) == "succeeded"
    assert applied == ["products"]
    assert world.snapshot() == reference

"""The hot window (docs/lake.md, "Hot window"): the golden dataset loaded by the real ETL with the lake on into a
real PostgreSQL converted for the window (sql/dw_hot_window/enable.sql), exported by the real export to Iceberg
tables in the emulator's S3 and Glue, read back by DuckDB.

- Time moved past the window: the days' raw rows leave PostgreSQL (partitions dropped), the aggregates are
  unchanged, the lake still answers for those days; a re-sent event of a day that left is still a duplicate
  (the ledger, written by the load).
- Nothing leaves while the lake does not hold a day.
- A late event within the freshness window, loaded after the old days left, sessionizes as in a warehouse that
  kept everything.
- The switch off: the warehouse's schema is the numbered migrations' alone, and a run with the lake on and the
  window off leaves it so; the conversion is idempotent.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import psycopg2
import pytest
from clickstream_etl.lake import hot_window, views
from clickstream_etl.lake.hot_window import HotWindowError, IcebergLake, NotInLake

from scripts.harness import lake as duck
from scripts.harness.etl_world import catalog, enable_hot_window

from .golden import D, all_runs
from .helpers import event_line, ndjson, object_key
from .test_lake_views import COMPARED, _lake_tables, _norm

pytestmark = pytest.mark.integration

DAY = D.date()


def _warehouse(world) -> dict[str, list[tuple]]:
    """Every aggregate table the dashboards read, whole."""
    out = {v: _norm(world.query(f"SELECT {cols} FROM {table} ORDER BY {keys}"))  # noqa: S608 - constants
           for v, (table, cols, keys) in COMPARED.items()}
    for table in ("dw.agg_daily_client_returns", "dw.agg_user_hours", "dw.agg_product_names"):
        out[table] = world.query(f"SELECT * FROM {table} ORDER BY 1, 2, 3")  # noqa: S608 - constants
    return out


def _lake_views(con, tables) -> dict[str, list[tuple]]:
    duck.attach_tables(con, tables)
    for statement in views.statements("duckdb").values():
        con.execute(statement)
    return {v: _norm(con.execute(f"SELECT {cols} FROM {v} ORDER BY {keys}").fetchall())  # noqa: S608
            for v, (_, cols, keys) in COMPARED.items()}


def _count(world, table: str) -> int:
    return world.query(f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 - constant names


class _EmptyLake:
    """A lake that holds no day (a stand-in: the real export always catches up within the test's runs)."""

    def day_counts(self, first, before):
        return {}


def test_old_days_leave_the_warehouse_and_the_lake_answers(world, moto_server, lake):
    enable_hot_window(world.dsn)
    assert world.query("SELECT relkind::text FROM pg_class WHERE oid = 'dw.events'::regclass") == [("p",)]
    run1, run2, run3 = all_runs()
    for files in (run1, run2, run3):
        for key, body in files.items():
            world.put(key, body)
        result = world.run_cli(env=world.env(**lake))
        assert result["status"] == "succeeded", result
    aggregates = _warehouse(world)
    assert all(aggregates.values())
    events, sessions = _count(world, "dw.events"), _count(world, "dw.sessions")
    assert (events, sessions) == (16, 6)
    # the load wrote the ledger itself: one id per loaded event
    assert world.query("SELECT count(*) FROM dw.event_ids") == [(events,)]

    tables = _lake_tables(world, lake)
    conn = psycopg2.connect(world.dsn)
    try:
        later = DAY + timedelta(days=10)
        # a lake that does not hold the day: nothing leaves
        with pytest.raises(NotInLake, match=str(DAY)):
            hot_window.enforce(conn, _EmptyLake(), later, 7, 72, 30)
        assert (_count(world, "dw.events"), _count(world, "dw.sessions")) == (events, sessions)
        # a window shorter than the freshness window plus a session and a day is refused
        with pytest.raises(HotWindowError, match="shorter than 5 days"):
            hot_window.enforce(conn, IcebergLake(tables["events"], tables["sessions"]), later, 4, 72, 30)

        # the runs made the partitions of their own days (today's); the golden day's rows wait in the default
        # partition: a run on the day after it would have made them, as this does
        assert _count(world, "ONLY dw.events_default") == events
        assert hot_window.prepare(conn, DAY + timedelta(days=1), 72) > 0
        assert (_count(world, "dw.events_20240501"), _count(world, "dw.sessions_20240501")) == (events, sessions)
        # time moved on: 10 days after the golden day, a window of 7
        dropped = hot_window.enforce(conn, IcebergLake(tables["events"], tables["sessions"]), later, 7, 72, 30)
        assert "events_20240501" in dropped.partitions and "sessions_20240501" not in dropped.partitions
        assert (_count(world, "dw.events"), _count(world, "dw.sessions")) == (0, sessions)
        assert _warehouse(world) == aggregates
        assert world.query("SELECT events_before FROM etl.hot_window") == [(later - timedelta(days=7),)]
        con = duck.duckdb_connection(moto_server.url)
        lake_numbers = _lake_views(con, tables)
        assert lake_numbers == {v: aggregates[v] for v in COMPARED}

        # exactly once: a re-sent object of that day (same events, another key) loads nothing
        _, body = next(iter(run1.items()))
        world.put(object_key(D, "resent"), body)
        resent = world.run_cli(env=world.env(**lake))
        assert (resent["status"], resent["events_loaded"]) == ("succeeded", 0), resent
        assert resent["duplicates"] == body.count(b"\n")
        assert _count(world, "dw.events") == 0
        assert _warehouse(world) == aggregates

        # past the client-returns horizon the sessions leave too
        dropped = hot_window.enforce(conn, IcebergLake(tables["events"], tables["sessions"]),
                                     DAY + timedelta(days=400), 7, 72, 30)
        assert "sessions_20240501" in dropped.partitions
        assert _count(world, "dw.sessions") == 0
        assert _warehouse(world) == aggregates
        assert _lake_views(con, tables) == lake_numbers
    finally:
        conn.close()


def test_the_run_drops_what_the_window_passed(world, lake):
    """HOT_WINDOW_DAYS on a run: after the export, the days past the window (the golden day is long past) leave."""
    enable_hot_window(world.dsn)
    runs = all_runs()
    for files in runs:
        for key, body in files.items():
            world.put(key, body)
        assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    aggregates = _warehouse(world)
    assert _count(world, "dw.events") == 16
    _, body = next(iter(runs[0].items()))
    world.put(object_key(D, "again"), body)
    result = world.run_cli(env=world.env(**lake, HOT_WINDOW_DAYS="7"))
    assert (result["status"], result["events_loaded"]) == ("succeeded", 0), result
    assert (_count(world, "dw.events"), _count(world, "dw.sessions")) == (0, 0)
    assert _warehouse(world) == aggregates


def test_window_on_an_unconverted_warehouse_drops_nothing(world, lake):
    for key, body in all_runs()[0].items():
        world.put(key, body)
    result = world.run_cli(env=world.env(**lake, HOT_WINDOW_DAYS="7"))
    assert result["status"] == "partial", result
    assert "not converted for the hot window" in result["message"]
    assert _count(world, "dw.events") > 0


def test_late_event_after_old_days_left(world, moto_server, lake):
    """A late event within the freshness window, loaded after the older days left the warehouse, sessionizes as in a
    warehouse that kept everything: every aggregate, the kept days' events and the sessions equal such a
    warehouse's (the same objects loaded into a fresh, unconverted database, lake off, nothing dropped)."""

    def at(day: int, h: int, m: int = 0) -> datetime:
        return datetime(2024, 5, day, h, m, tzinfo=D.tzinfo)

    early = [event_line("page_view", "L", at(1, 10), page="/"),
             event_line("page_view", "M", at(1, 11), page="/deals")]
    recent = [event_line("page_view", "L", at(9, 10), page="/"),
              event_line("view_item", "L", at(9, 10, 20), page="/products/p1",
                         product={"id": "p1", "category": "laptops", "brand": "Lenovo", "price": 10.0}),
              event_line("page_view", "M", at(9, 12), page="/")]
    # 10:10 fills the gap between 10:00 and 10:20 (already one session); 10:45 joins it (25 min after 10:20)
    late = [event_line("page_view", "L", at(9, 10, 10), received=at(10, 9), page="/laptops"),
            event_line("page_view", "L", at(9, 10, 45), received=at(10, 9), page="/checkout")]
    enable_hot_window(world.dsn)
    world.put(object_key(at(1, 11), "early"), ndjson(early))
    world.put(object_key(at(9, 12), "recent"), ndjson(recent))
    assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"

    conn = psycopg2.connect(world.dsn)
    try:
        hot_window.prepare(conn, date(2024, 5, 2), 72)  # the 1st's partitions; the 9th's rows stay in the default
        tables = _lake_tables(world, lake)
        dropped = hot_window.enforce(conn, IcebergLake(tables["events"], tables["sessions"]), date(2024, 5, 10),
                                     5, 72, 30)
        assert "events_20240501" in dropped.partitions
    finally:
        conn.close()
    assert world.query("SELECT count(*) FROM dw.events WHERE event_timestamp < '2024-05-05'") == [(0,)]

    world.put(object_key(at(10, 9), "late"), ndjson(late))
    result = world.run_cli(env=world.env(**lake))
    assert (result["status"], result["events_loaded"]) == ("succeeded", 2), result
    # one session of L on the 9th: 10:00, 10:10, 10:20, 10:45
    assert world.query("""SELECT session_start, session_end, event_count FROM dw.sessions
                           WHERE client_id = 'L' AND session_date = '2024-05-09'""") == [(at(9, 10), at(9, 10, 45), 4)]
    kept = world.snapshot()
    kept["dw.events"] = world.query("SELECT * FROM dw.events WHERE event_timestamp >= '2024-05-05' ORDER BY event_id")

    world.fresh_database()  # the same objects, nothing dropped
    assert world.run_cli()["status"] == "succeeded"
    everything = world.snapshot()
    everything["dw.events"] = world.query(
        "SELECT * FROM dw.events WHERE event_timestamp >= '2024-05-05' ORDER BY event_id")
    assert kept == everything


def _indexes(rows) -> set[str]:
    """The definitions of the indexes on dw.events / dw.sessions themselves, but their primary keys."""
    return {r[2].replace(" ON ONLY ", " ON ") for r in rows if r[0] == "index" and "_pkey" not in r[1]
            and any(f" ON {t} " in r[2] or f" ON ONLY {t} " in r[2] for t in ("dw.events", "dw.sessions"))}


def test_switch_off_leaves_the_schema_as_the_migrations_make_it(world, lake):
    """With the window off, nothing of the hot window exists: a run with the lake on leaves the migrated schema as
    it is (no partitions, no ledger, no function). Switched on, the conversion changes it, once."""
    migrated = catalog(world.dsn)
    assert ("relation", "dw.events", "r") in migrated
    assert not [r for r in migrated if "event_ids" in r[1] or "hot_window" in r[1]]
    for files in all_runs():
        for key, body in files.items():
            world.put(key, body)
        assert world.run_cli(env=world.env(**lake))["status"] == "succeeded"
    assert catalog(world.dsn) == migrated
    before = world.snapshot()

    enable_hot_window(world.dsn)
    converted = catalog(world.dsn)
    assert converted != migrated
    assert ("relation", "dw.events", "p") in converted and ("relation", "dw.event_ids", "r") in converted
    # every column of the tables is as before, the rows too
    columns = {r for r in migrated if r[0] == "column" and r[1].startswith(("dw.events.", "dw.sessions."))}
    assert columns <= set(converted)
    # every index but the primary key, as the migrations defined it, on the partitioned tables
    assert _indexes(migrated) == _indexes(converted) != set()
    assert world.snapshot() == before
    assert world.query("SELECT count(*) FROM dw.event_ids") == [(len(before["dw.events"]),)]
    enable_hot_window(world.dsn)  # idempotent
    assert catalog(world.dsn) == converted


def test_hot_window_setting():
    from clickstream_env import ConfigError
    from clickstream_etl.config import settings_from_env

    env = {"RAW_BUCKET_NAME": "raw", "DW_HOST": "dw", "DW_PASSWORD_PARAMETER": "/p"}
    lake = {**env, "LAKE_ENABLED": "true", "LAKE_DATABASE": "db", "LAKE_LOCATION": "s3://b/iceberg"}
    assert settings_from_env(lake).hot_window_days == 0
    assert settings_from_env(lake).event_ledger is False
    assert settings_from_env({**lake, "HOT_WINDOW_DAYS": "30"}).hot_window_days == 30
    with pytest.raises(ConfigError, match=r"HOT_WINDOW_DAYS must be 0 .* or at least 5"):
        settings_from_env({**lake, "HOT_WINDOW_DAYS": "4"})
    with pytest.raises(ConfigError, match="at least 9"):  # a longer freshness window needs a longer hot window
        settings_from_env({**lake, "HOT_WINDOW_DAYS": "5", "FRESHNESS_HOURS": "168"})
    with pytest.raises(ConfigError, match="needs LAKE_ENABLED"):
        settings_from_env({**env, "HOT_WINDOW_DAYS": "30"})


def test_minimum_window():
    assert hot_window.minimum_days(72, 30) == 5
    assert hot_window.cutoff(date(2025, 1, 31), 5, 72, 30) == hot_window.Cutoff(date(2025, 1, 26), date(2024, 1, 25))


def test_ledger_ids_from_the_copy_text():
    from clickstream_etl import load

    ids = [str(uuid.uuid4()) for _ in range(3)]
    text = "".join(f"{i}\tc\t2024-05-01T00:00:00+00:00\n" for i in ids).encode()
    assert load._event_ids(text).decode().split() == ids


def test_an_event_id_loads_once_whatever_its_timestamp(world):
    """On the converted warehouse the primary key is (event_id, event_timestamp): only the ledger, written by the
    load, keeps an id re-sent with another timestamp out, on the direct path (its COPY fails, the batch is planned
    in the warehouse) as on the warehouse's (its dedup reads the ledger). The ledger follows the schema: the lake
    is off here."""
    enable_hot_window(world.dsn)

    def at(h: int, m: int = 0) -> datetime:
        return datetime(2024, 5, 1, h, m, tzinfo=D.tzinfo)

    eid = str(uuid.uuid4())
    first = event_line("page_view", "K", at(10), event_id=eid, page="/")
    world.put(object_key(at(10), "first"), ndjson([first]))
    assert world.run_cli()["events_loaded"] == 1
    # the same id later (a client that follows its loaded events: the direct path), and earlier (the warehouse's)
    later = event_line("page_view", "K", at(10, 5), event_id=eid, page="/later")
    world.put(object_key(at(10, 5), "later"), ndjson([later]))
    result = world.run_cli()
    assert (result["status"], result["events_loaded"], result["duplicates"]) == ("succeeded", 0, 1), result
    earlier = event_line("page_view", "K", at(9, 55), received=at(10, 6), event_id=eid, page="/earlier")
    world.put(object_key(at(10, 6), "earlier"), ndjson([earlier]))
    result = world.run_cli()
    assert (result["status"], result["events_loaded"], result["duplicates"]) == ("succeeded", 0, 1), result
    assert world.query("SELECT count(*), min(event_timestamp) FROM dw.events") == [(1, at(10))]
    assert world.query("SELECT count(*) FROM dw.event_ids") == [(1,)]

"""The attribution, dimension-filter, journeys, cohorts-by-dimension and acquisition/users-by-dimension applies read
in proportion to the pending clients, not to the warehouse (aggregates.apply_pending's 'sessions' part;
queries/attribution.sql, dims.sql, journeys.sql, retention_dims.sql, acquisition_dims.sql; sql/dw/0051).

The scheduled run brings a few thousand events of clients the warehouse already knows. Its apply must read those
clients' rows only, whatever the warehouse holds and whatever the statistics say; before, with the statistics a big
run had left on etl.delta_clients, the attribution apply read the whole of dw.agg_attribution_members (the planner
scanned its primary key and probed the pending clients with each row), the dims apply read the whole of dw.events
and dw.sessions (a hash join), and the attribution read every event of a pending client's window to keep its few
purchases. Counted with pg_stat_xact_user_tables: the rows each table gave the statements, in their transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from clickstream_etl import attribution, attribution_dims, dims, sql

from .helpers import event_line, ndjson, object_key

CLIENTS = 300
DAY = datetime(2024, 5, 1, tzinfo=UTC)
P10 = {"id": "p10", "name": "P10", "category": "c", "brand": "b", "price": "10.00"}
TABLES = ("dw.events", "dw.sessions", "dw.agg_attribution_members", "dw.agg_dims_members")
TABLES += ("dw.agg_attribution_dims_members",)  # sql/dw/0054


def _client_lines(i: int) -> list[dict]:
    """Three sessions a day apart, the last with a purchase; a few page views each."""
    c, out = f"c-{i:04d}", []
    for day in range(3):
        t = DAY + timedelta(days=day, hours=8, seconds=i)
        out += [event_line("page_view", c, t + timedelta(minutes=m), page="/") for m in range(4)]
    out.append(event_line("purchase", c, DAY + timedelta(days=2, hours=8, minutes=5, seconds=i), page="/checkout",
                          product=P10, quantity=1))
    return out


def _rows_read(cur) -> dict[str, int]:
    cur.execute("""SELECT relid::regclass::text, seq_tup_read + coalesce(idx_tup_fetch, 0)
                     FROM pg_stat_xact_user_tables WHERE relid::regclass::text = ANY(%s)""", (list(TABLES),))
    return dict(cur.fetchall())


@pytest.fixture
def loaded(world):
    lines = [line for i in range(CLIENTS) for line in _client_lines(i)]
    world.put(object_key(DAY + timedelta(days=3), "all"), ndjson(lines))
    r = world.run_cli()
    assert r["status"] == "succeeded" and r["events_loaded"] == len(lines), r
    return world


def _apply_one_client(world, statements: list[str],
                      first: list[str] | tuple = ()) -> tuple[dict[str, int], dict[str, int]]:
    """``statements`` for one pending client (its whole history), with the statistics a big run leaves: every
    client pending when etl.delta_clients was last analyzed. The rows each table gave them (not the statements of
    ``first``, run before them), and the client's own."""
    with psycopg2.connect(world.dsn) as conn, conn.cursor() as cur:
        for statement in sql.SESSION_SETUP:
            cur.execute(statement)
        cur.execute("INSERT INTO etl.delta_clients SELECT client_id, first_seen_at FROM dw.clients")
        cur.execute("ANALYZE etl.delta_clients")
        cur.execute("ANALYZE dw.agg_attribution_members")
        cur.execute("DELETE FROM etl.delta_clients WHERE client_id <> 'c-0007'")
        for statement in first:
            cur.execute(statement)
        before = _rows_read(cur)
        for statement in statements:
            cur.execute(statement)
        after = _rows_read(cur)
        cur.execute("""SELECT (SELECT count(*) FROM dw.events WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.events WHERE client_id = 'c-0007' AND event_name = 'purchase'),
                              (SELECT count(*) FROM dw.sessions WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.agg_attribution_members WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.agg_dims_members WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.agg_attribution_dims_members WHERE client_id = 'c-0007')""")
        own = dict(zip(("events", "purchases", "sessions", "attribution_members", "dims_members",
                        "attribution_dims_members"), cur.fetchone(), strict=True))
        conn.rollback()
    conn.close()
    return {t: after.get(t, 0) - before.get(t, 0) for t in TABLES}, own


@pytest.mark.integration
def test_attribution_apply_reads_the_pending_clients_rows_only(loaded):
    read, own = _apply_one_client(loaded, attribution.APPLY)
    assert own["purchases"] == 1 and own["attribution_members"] == 5, own  # first, last non-direct, linear x 3
    # its kept credits, read for the difference and for the delete
    assert read["dw.agg_attribution_members"] <= 2 * own["attribution_members"], read
    assert read["dw.events"] <= own["purchases"], read  # its purchases only, not every event of its window
    assert read["dw.sessions"] <= 2 * own["sessions"], read


@pytest.mark.integration
def test_dims_apply_reads_the_pending_clients_rows_only(loaded):
    read, own = _apply_one_client(loaded, dims.APPLY)
    assert own["events"] == 13 and own["sessions"] == 3, own
    assert read["dw.events"] <= own["events"], read
    # its sessions, and again those before each of its session days (the segment)
    assert read["dw.sessions"] <= 3 * own["sessions"], read
    assert read["dw.agg_dims_members"] <= 2 * own["dims_members"], read  # for the difference and the delete


@pytest.mark.integration
def test_attribution_dims_apply_reads_the_pending_clients_rows_only(loaded):
    """The credits under device and segment (sql/dw/0054), after the attribution apply has made the client's credits:
    its touch sessions and the sessions before each of their days (the segment), its own kept rows."""
    read, own = _apply_one_client(loaded, attribution_dims.APPLY, first=attribution.APPLY)
    # first, last non-direct, linear: three direct desktop sessions of a new client, one row each model
    assert own["attribution_dims_members"] == 3, own
    assert read["dw.agg_attribution_dims_members"] <= 2 * own["attribution_dims_members"], read
    assert read["dw.events"] == 0, read
    assert read["dw.agg_attribution_members"] == 0, read  # the credits the attribution apply has just made
    assert read["dw.sessions"] <= 3 * own["sessions"], read


# The newest steps (journeys, retention_dims, acquisition_dims with the users under the filters), as the ETL's role
# runs them: etl_writer reads and writes the tables of dw and etl but owns none (roles/dw_db, docs/warehouse.md), so
# an ANALYZE of etl.delta_clients or of a dw table is skipped with a warning: only the temp tables the apply makes
# can have fresh statistics. The grants are those of roles/dw_db/vars/main.yml.
ETL_ROLE = "apply_reads_etl_writer"
# The steps' own copies of the pending clients (queries/dims.sql, journeys.sql, retention_dims.sql, retention.sql).
PENDING_TABLES = ("etl_dims_clients", "etl_jr_clients", "etl_rd_clients", "etl_ret_clients")
NEW_TABLES = ("dw.events", "dw.sessions", "dw.session_journeys", "dw.agg_retention_dims_members",
              "dw.agg_acquisition_dims_members")


def _etl_role(cur) -> None:
    cur.execute(f"DO $$ BEGIN CREATE ROLE {ETL_ROLE} NOSUPERUSER NOCREATEDB NOCREATEROLE;"
                " EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    cur.execute(f"""GRANT CONNECT, TEMPORARY ON DATABASE "{cur.connection.info.dbname}" TO {ETL_ROLE};
                    GRANT USAGE ON SCHEMA dw, etl TO {ETL_ROLE};
                    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA dw, etl TO {ETL_ROLE};
                    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA dw, etl TO {ETL_ROLE}""")


def _reads(cur, tables: tuple[str, ...]) -> dict[str, int]:
    cur.execute("""SELECT relid::regclass::text, seq_tup_read + coalesce(idx_tup_fetch, 0)
                     FROM pg_stat_xact_user_tables WHERE relid::regclass::text = ANY(%s)""", (list(tables),))
    return dict(cur.fetchall())


def _steps_as_etl_role(world, pending: str, analyzed: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """The dims step (which the acquisition step reads) and the three newest steps, as the ETL's role, for the pending
    clients ``pending`` (a WHERE on dw.clients) when etl.delta_clients was last analyzed (by its owner, as autovacuum
    does) holding the clients ``analyzed``: the rows each step read from each table, and c-0007's own rows."""
    from clickstream_etl import acquisition_dims, journeys, retention, retention_dims

    steps = {"dims": dims.APPLY, "acquisition_dims": acquisition_dims.APPLY, "journeys": journeys.APPLY,
             "retention_dims": retention_dims.APPLY, "retention": retention.APPLY}
    with psycopg2.connect(world.dsn) as conn, conn.cursor() as cur:
        _etl_role(cur)
        for statement in sql.SESSION_SETUP:
            cur.execute(statement)
        insert = "INSERT INTO etl.delta_clients SELECT client_id, first_seen_at FROM dw.clients WHERE "
        cur.execute(insert + analyzed)
        cur.execute("ANALYZE etl.delta_clients")
        cur.execute("DELETE FROM etl.delta_clients")
        cur.execute(insert + pending)
        cur.execute(f"SET ROLE {ETL_ROLE}")
        cur.execute("ANALYZE etl.delta_clients")  # skipped, with a warning: the role does not own it
        read = {}
        for name, statements in steps.items():
            before = _reads(cur, NEW_TABLES)
            for statement in statements:
                cur.execute(statement)
            after = _reads(cur, NEW_TABLES)
            read[name] = {t: after.get(t, 0) - before.get(t, 0) for t in NEW_TABLES}
        estimates = {}
        for table in ("etl.delta_clients", *PENDING_TABLES):
            cur.execute(f"EXPLAIN (FORMAT JSON) SELECT * FROM {table}")  # noqa: S608 - the names above
            planned = cur.fetchone()[0][0]["Plan"]["Plan Rows"]
            cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - the names above
            estimates[table] = (planned, cur.fetchone()[0])
        read["estimates"] = estimates
        cur.execute("RESET ROLE")
        cur.execute("""SELECT (SELECT count(*) FROM dw.events WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.sessions WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.agg_retention_dims_members WHERE client_id = 'c-0007'),
                              (SELECT count(*) FROM dw.agg_acquisition_dims_members WHERE client_id = 'c-0007')""")
        own = dict(zip(("events", "sessions", "retention_members", "acquisition_members"), cur.fetchone(),
                       strict=True))
        conn.rollback()
    conn.close()
    return read, own


@pytest.mark.integration
def test_newest_steps_read_the_pending_clients_rows_only_as_the_etl_role(loaded):
    """A scheduled run after a big one: one client pending, the statistics of etl.delta_clients from when every
    client was (the ETL's role cannot refresh them)."""
    read, own = _steps_as_etl_role(loaded, "client_id = 'c-0007'", "TRUE")
    assert own == {"events": 13, "sessions": 3, "retention_members": 2, "acquisition_members": 3}, own
    jr, rd, acq = read["journeys"], read["retention_dims"], read["acquisition_dims"]
    assert jr["dw.events"] <= own["events"], read
    # its sessions, and those before each of its session days (the segment)
    assert jr["dw.sessions"] <= 3 * own["sessions"], read
    assert jr["dw.session_journeys"] <= 2 * own["sessions"], read  # its rows, for the difference and the delete
    assert rd["dw.sessions"] <= own["sessions"], read
    assert rd["dw.session_journeys"] <= 2, read  # the cohorts' sessions: its first visit's, its first purchase's
    assert rd["dw.agg_retention_dims_members"] <= 2 * own["retention_members"], read
    assert acq["dw.events"] == 0 and acq["dw.sessions"] == 0, read  # the dims step's sessions (etl_dims_sd)
    # its members: the users' days before and after, the difference, the delete
    assert acq["dw.agg_acquisition_dims_members"] <= 4 * own["acquisition_members"], read


@pytest.mark.integration
@pytest.mark.parametrize(("pending", "analyzed"), [("client_id = 'c-0007'", "TRUE"), ("TRUE", "client_id = 'c-0007'")],
                         ids=["small-after-big", "big-after-small"])
def test_newest_steps_plan_with_the_pending_clients_count_as_the_etl_role(loaded, pending, analyzed):
    """Whatever run last left its statistics on etl.delta_clients (one client pending now after all of them, or all
    of them after one), the planner knows how many clients each step's statements join: the steps read them from a
    temp table of their own, which the ETL's role can ANALYZE. (ANALYZE samples every row of a table this small: the
    estimate is the count.)"""
    read, _ = _steps_as_etl_role(loaded, pending, analyzed)
    estimates = read["estimates"]
    planned, actual = estimates["etl.delta_clients"]
    # the statistics are a past run's, though the role ran ANALYZE on it
    assert planned >= 100 * actual or actual >= 100 * planned, estimates
    for table in PENDING_TABLES:
        assert estimates[table][0] == estimates[table][1], (table, estimates)

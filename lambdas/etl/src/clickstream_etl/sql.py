"""The set-based SQL of one load batch and of the aggregate refresh (PostgreSQL 15).

Every statement works on temp tables (emptied or dropped at commit) and the ``dw``/``etl`` tables described in
docs/warehouse.md. Parameters use psycopg2's ``%(name)s`` style.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import queries
from .columns import BY_NAME, EVENT_COLUMNS, NAMES, OBJECTS, PROVENANCE, SESSION_ASSIGNED, TOP_KEYS, Column, column_list
from .rules import LOGIN_STATES, NO_RECEIVED, Freshness, login_state_sql

BY_NAME_SOURCE = {c.source: c for c in EVENT_COLUMNS}

# Per-connection setup. temp_buffers must be set before the session touches its first temp table.
SESSION_SETUP = [
    "SET temp_buffers = '256MB'",
    "SET work_mem = '256MB'",
    "SET maintenance_work_mem = '256MB'",
    "SET timezone = 'UTC'",
    # A commit lost in a crash only means its objects are still pending: the manifest is lost with the rows.
    "SET synchronous_commit = off",
    "SET jit = off",
]

# Casts that return NULL instead of raising: used only when the fast (plain cast) path hit bad data.
SAFE_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION pg_temp.try_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS
       $$BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END$$""",
    # json (unlike jsonb) takes the escape \u0000: valid JSON that jsonb and text cannot hold
    """CREATE OR REPLACE FUNCTION pg_temp.is_json(t text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
       $$BEGIN PERFORM t::json; RETURN true; EXCEPTION WHEN others THEN RETURN false; END$$""",
    """CREATE OR REPLACE FUNCTION pg_temp.try_timestamptz(t text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS
       $$BEGIN RETURN t::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END$$""",
    """CREATE OR REPLACE FUNCTION pg_temp.try_epoch_ms(t text) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS
       $$BEGIN RETURN to_timestamp(t::numeric / 1000); EXCEPTION WHEN others THEN RETURN NULL; END$$""",
    """CREATE OR REPLACE FUNCTION pg_temp.try_uuid(t text) RETURNS uuid LANGUAGE plpgsql IMMUTABLE AS
       $$BEGIN RETURN t::uuid; EXCEPTION WHEN others THEN RETURN NULL; END$$""",
    """CREATE OR REPLACE FUNCTION pg_temp.try_money(t text) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS
       $$BEGIN RETURN t::numeric(14, 2); EXCEPTION WHEN others THEN RETURN NULL; END$$""",
    """CREATE OR REPLACE FUNCTION pg_temp.try_int(t text) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS
       $$BEGIN RETURN t::integer; EXCEPTION WHEN others THEN RETURN NULL; END$$""",
]

# A statement that reaches a few clients' rows of a warehouse table must go through its client index. Without
# statistics on client_id (a table loaded since autovacuum last analyzed it; the ETL does not own the tables, so it
# cannot ANALYZE them) the planner takes each client for 0.5 % of the table and prefers to read all of it (and to
# hash it): per batch, that made the 1M-event bench grow with the table (20 s -> 76 s), and every batch read all of
# dw.clients. The index plan is right for any table size, so these statements ask for it (``script``).
INDEX_ONLY = ("seqscan", "hashjoin", "mergejoin")


def script(off: tuple[str, ...], statements: list[str]) -> str:
    """``statements`` as one script (one round trip) with the planner methods ``off`` disabled
    (``SET LOCAL enable_<method>``) and put back to their defaults after them, for the rest of the transaction."""
    return ";\n".join([f"SET LOCAL enable_{method} = off" for method in off] + list(statements)
                       + [f"SET LOCAL enable_{method} TO DEFAULT" for method in off])


def array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of ``values`` (each element quoted, ``\\`` and ``"`` escaped), for a parameter
    cast to ``text[]``, ``uuid[]`` or ``timestamptz[]``. psycopg2 adapts a Python list element by element (a
    datetime costs 1.6 µs), a few thousand per batch on the thread that the parser and planner wait for; this is
    one string. None is not allowed (no element here is NULL)."""
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"


def batch_table(name: str, query: str) -> list[str]:
    """The statements that fill the batch's temp table ``name`` with ``query``. The table is created once per
    session (empty, with the query's columns) and emptied at each commit (``ON COMMIT DELETE ROWS``): creating and
    dropping it in every batch cost about 1.5 ms of catalog work per table."""
    return [f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS {query} WITH NO DATA",
            f"INSERT INTO {name} {query}"]


CREATE_BATCH_TABLES = [
    "CREATE TEMP TABLE etl_files (file_idx integer PRIMARY KEY, source_file text NOT NULL, "
    "last_modified timestamptz) ON COMMIT DROP",
    # unstorable: the line is JSON but not jsonb (a string holds \u0000), set by RAW_FROM_TEXT
    "CREATE TEMP TABLE etl_raw (file_idx integer NOT NULL, line_no integer NOT NULL, doc jsonb, "
    "unstorable boolean) ON COMMIT DROP",
]
COPY_RAW = "COPY etl_raw (file_idx, line_no, doc) FROM STDIN"
# Fallback when a line is not JSON: store text, parse each line on its own.
CREATE_RAW_TEXT = ("CREATE TEMP TABLE etl_raw_text (file_idx integer NOT NULL, line_no integer NOT NULL, "
                   "txt text) ON COMMIT DROP")
COPY_RAW_TEXT = "COPY etl_raw_text (file_idx, line_no, txt) FROM STDIN"
RAW_FROM_TEXT = """INSERT INTO etl_raw
SELECT file_idx, line_no, doc, doc IS NULL AND pg_temp.is_json(txt)
FROM (SELECT file_idx, line_no, txt, pg_temp.try_jsonb(txt) AS doc FROM etl_raw_text OFFSET 0) r"""


ISO_PREFIX = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"


def _cast(expr: str, kind: str, safe: bool) -> str:
    fast = {
        "ts": f"({expr})::timestamptz",
        "epoch_ms": f"to_timestamp(({expr})::numeric / 1000)",
        "uuid": f"({expr})::uuid",
        "money": f"({expr})::numeric(14, 2)",
        "int": f"({expr})::integer",
    }
    slow = {
        "ts": f"pg_temp.try_timestamptz({expr})",
        "epoch_ms": f"pg_temp.try_epoch_ms({expr})",
        "uuid": f"pg_temp.try_uuid({expr})",
        "money": f"pg_temp.try_money({expr})",
        "int": f"pg_temp.try_int({expr})",
    }
    return (slow if safe else fast)[kind]


def _timestamp(j: str, safe: bool) -> str:
    """A jsonb value -> timestamptz: RFC 3339 text, or a number of epoch milliseconds."""
    text = f"{j} #>> '{{}}'"
    # Only digits-first ISO text: PostgreSQL would also accept 'now', 'yesterday', 'epoch', 'infinity', ...
    return (f"CASE WHEN jsonb_typeof({j}) = 'string' AND {text} ~ '{ISO_PREFIX}' THEN {_cast(text, 'ts', safe)} "
            f"WHEN jsonb_typeof({j}) = 'number' THEN {_cast(text, 'epoch_ms', safe)} END")


def _source(c: Column) -> str:
    """The column's value in the line's records (``x``: the line, ``o_<object>``: a nested object)."""
    return f"o_{c.source[0]}.{c.source[1]}" if len(c.source) == 2 else f"x.{c.source[0]}"


def _read(c: Column) -> str:
    """The column's value as read from the line (named ``c.raw``): trimmed text with '' as NULL, or the jsonb of a
    timestamp (text or a number); an event name lowercased."""
    if c.kind == "timestamp":
        return f"nullif({_source(c)}, 'null'::jsonb) AS {c.raw}"
    text = f"nullif(btrim({_source(c)}), '')"
    return f"{'lower(' + text + ')' if c.kind == 'name' else text} AS {c.raw}"


_CASTS = {"uuid": "uuid", "money": "money", "quantity": "int"}


def _typed(c: Column, safe: bool) -> str:
    """The column's typed value (named ``c.name``) from its value as read, NULL when that does not cast."""
    if c.kind == "timestamp":
        return f"{_timestamp(c.raw, safe)} AS {c.name}"
    return f"CASE WHEN {c.raw} IS NOT NULL THEN {_cast(c.raw, _CASTS[c.kind], safe)} END AS {c.name}"


def _records() -> str:
    """The line's record and one per nested object (jsonb_to_record): text, jsonb for timestamps and objects."""
    top = ", ".join(f"{key} {'jsonb' if key in OBJECTS or BY_NAME_SOURCE[(key,)].kind == 'timestamp' else 'text'}"
                    for key in TOP_KEYS)
    parts = [f"""LEFT JOIN LATERAL jsonb_to_record(CASE jsonb_typeof(r.doc) WHEN 'object' THEN r.doc END) AS x(
        {top}) ON true"""]
    for obj, keys in OBJECTS.items():
        fields = ", ".join(f"{k} text" for k in keys)
        parts.append(f"""LEFT JOIN LATERAL jsonb_to_record(CASE jsonb_typeof(x.{obj}) WHEN 'object' THEN x.{obj} END)
        AS o_{obj}({fields}) ON true""")
    return "\n    ".join(parts)


# The order in which the SQL path checks a line's columns: the first failing check names the line's reject.
CHECK_ORDER = ("event_name", "client_id", "event_timestamp", "event_id", "received_at", "product_price",
               "product_discount_price", "quantity", "user_login_state")


def _checks(c: Column) -> list[str]:
    """The ``CASE`` branches that reject a line for column ``c``: missing when required, invalid when its value
    does not cast or is out of range. The receipt time may instead come from the object (rules.Freshness)."""
    path = ".".join(c.source)
    if c.kind in ("name", "required"):
        return [f"WHEN {c.name} IS NULL THEN 'missing_field:{path}'"]
    if c.required:
        return [f"WHEN {c.raw} IS NULL THEN 'missing_field:{path}'",
                f"WHEN {c.name} IS NULL THEN 'invalid_field:{path}'"]
    if c.kind == "timestamp":  # received_at
        return [f"WHEN {c.raw} IS NOT NULL AND {c.name} IS NULL THEN 'invalid_field:{path}'",
                f"WHEN {_RECEIVED} IS NULL THEN '{NO_RECEIVED[0]}:{NO_RECEIVED[1]}'"]
    if c.kind in ("money", "quantity"):
        return [f"WHEN {c.raw} IS NOT NULL AND ({c.name} IS NULL OR {c.name} < 0) THEN 'invalid_field:{path}'"]
    if c.kind == "login":
        states = ", ".join(f"'{s}'" for s in sorted(LOGIN_STATES))
        return [f"WHEN {c.raw} IS NOT NULL AND {c.raw} NOT IN ({states}) THEN 'invalid_field:{path}'"]
    raise ValueError(f"no check for {c.name}")


# An event's receipt: its received_at, else its object's last-modified time (rules.Freshness).
_RECEIVED = "coalesce(received_at, last_modified)"


def _final(c: Column) -> str:
    if c.kind == "login":
        return f"{login_state_sql(c.raw, 'user_id')} AS {c.name}"
    if c.name == "received_at":
        return f"{_RECEIVED} AS {c.name}"
    return c.name


def normalize_sql(safe: bool) -> str:
    """etl_raw -> etl_norm (CREATE_NORM): typed, trimmed columns plus ``problem`` ('reason:detail') for rejected lines,
    made from columns.EVENT_COLUMNS and the rules (login state, freshness).

    ``safe`` replaces plain casts (which abort the statement on bad data) by NULL-returning functions; both
    modes give the same result on data the fast mode accepts.
    """
    id_raw = BY_NAME["event_id"].raw
    reads = ",\n           ".join(_read(c) for c in EVENT_COLUMNS)
    casts = ",\n           ".join(_typed(c, safe) for c in EVENT_COLUMNS if c.raw != c.name and c.kind != "login")
    checks = "\n             ".join(b for name in CHECK_ORDER for b in _checks(BY_NAME[name]))
    fresh = "\n             ".join(Freshness.problem_sql("event_timestamp", _RECEIVED))
    # Only this module's own expressions are interpolated (no input data).
    return f"""
INSERT INTO etl_norm (file_idx, line_no, source_file, problem, {id_raw}, {column_list(NAMES)})
WITH t AS (
    SELECT r.file_idx, r.line_no, f.source_file, f.last_modified, r.doc IS NULL AS doc_missing, r.unstorable,
           jsonb_typeof(r.doc) AS doc_type,
           {reads}
    FROM etl_raw r
    JOIN etl_files f USING (file_idx)
    {_records()}
    OFFSET 0
), c AS (
    SELECT t.*,
           {casts}
    FROM t
    OFFSET 0
), v AS (
    SELECT c.*,
           CASE
             WHEN doc_missing AND unstorable
               THEN 'unstorable_text:a string holds \\u0000 (NUL), which PostgreSQL text cannot store'
             WHEN doc_missing THEN 'malformed_json:line is not valid JSON'
             WHEN doc_type <> 'object' THEN 'not_an_object:line is a JSON ' || doc_type
             {checks}
             {fresh}
           END AS problem
    FROM c
)
SELECT file_idx, line_no, source_file, problem, {id_raw}, {", ".join(_final(c) for c in EVENT_COLUMNS)}
FROM v
"""  # noqa: S608


REJECTS = """
SELECT file_idx, line_no, split_part(problem, ':', 1), substr(problem, strpos(problem, ':') + 1), event_id_raw
FROM etl_norm WHERE problem IS NOT NULL ORDER BY file_idx, line_no
"""

_SESSIONIZE = queries.load("sessionize")


def _one(name: str) -> str:
    return queries.statement("sessionize", name)


# Valid rows not yet in the warehouse (queries/sessionize.sql has what each of these does).
NEW_EVENTS = batch_table("etl_new", _one("new_events_table"))

PER_FILE_COUNTS = """
SELECT file_idx,
       count(*) FILTER (WHERE problem IS NULL) AS valid,
       count(*) FILTER (WHERE problem IS NOT NULL) AS rejected
FROM etl_norm GROUP BY file_idx
"""
NEW_PER_FILE = "SELECT file_idx, count(*) FROM etl_new GROUP BY file_idx"

# First event per touched client; remember first events that stop being first (a late, earlier event).
CLIENTS = [
    *batch_table("etl_cmin", _one("client_first_table")),
    *batch_table("etl_oldfirst", _one("old_first_table")),
    *_SESSIONIZE["upsert_clients"],
    *batch_table("etl_first", _one("first_events_table")),
    *_SESSIONIZE["clear_old_first"],
]
# Re-sessionize every touched client from the start of its earliest session the new events can touch: the touched
# clients with that start (etl_tc), then their events from there on, old and new, in sessions (etl_sess).
TOUCHED_CLIENTS = batch_table("etl_tc", _one("touched_clients_table"))
SESSIONIZE = batch_table("etl_sess", _one("sessionize_table"))

# The new events, answering how many it inserted (as the last statement of a script).
INSERT_EVENTS = f"""
WITH ins AS (
INSERT INTO dw.events ({column_list([*NAMES, *PROVENANCE, *SESSION_ASSIGNED])})
SELECT {", ".join(f"n.{c}" for c in NAMES)}, n.source_file, n.line_no, s.session_id, s.is_first_visit
FROM etl_new n JOIN etl_sess s ON s.event_id = n.event_id AND s.is_new
RETURNING 1
)
SELECT count(*) FROM ins
"""  # noqa: S608 - column names only

UPDATE_OLD_EVENTS = queries.statement("sessionize", "update_old_events")
REPLACE_SESSIONS = _SESSIONIZE["replace_sessions"]


# ---------------------------------------------------------------------------------------------------------
# Aggregate recompute for one contiguous range of dirty days [%(d0)s, %(d1)s) (dates). The batches keep the
# aggregates current themselves (deltas.py); this rebuilds days from dw.events / dw.sessions: days marked dirty
# by an earlier version of the ETL, a synthesized warehouse (bench/dashboards), and the tests' oracle.

REFRESH_DAY_EVENTS = """
CREATE TEMP TABLE etl_day_events ON COMMIT DROP AS
SELECT e.event_id, e.event_timestamp, (e.event_timestamp AT TIME ZONE 'UTC')::date AS activity_date,
       e.event_name, e.client_id, e.user_id, e.session_id, e.is_first_visit, e.product_id, e.product_name,
       coalesce(e.product_category, '(none)') AS product_category,
       coalesce(e.product_brand, '(none)') AS product_brand,
       CASE WHEN e.event_name = 'purchase'
            THEN coalesce(e.product_discount_price, e.product_price, 0) * coalesce(e.quantity, 1) ELSE 0 END
         AS revenue,
       coalesce(e.quantity, 1) AS units,
       s.user_login_state, e.event_timestamp = s.session_start AS starts_session
FROM dw.events e JOIN dw.sessions s USING (session_id)
WHERE e.event_timestamp >= %(d0)s::date AND e.event_timestamp < %(d1)s::date
"""

# The event-based half (refresh_aggregates runs the two halves on two connections at once), after
# REFRESH_DAY_EVENTS: hourly activity and the funnel.
REFRESH_ACTIVITY = [
    "DELETE FROM dw.agg_user_hours WHERE activity_hour >= %(d0)s::date::timestamptz "
    "AND activity_hour < %(d1)s::date::timestamptz",
    """INSERT INTO dw.agg_user_hours
       SELECT date_trunc('hour', event_timestamp), user_login_state, user_id, count(*)
       FROM etl_day_events WHERE user_id IS NOT NULL GROUP BY 1, 2, 3""",
    "DELETE FROM dw.agg_hourly_activity WHERE activity_date >= %(d0)s AND activity_date < %(d1)s",
    """INSERT INTO dw.agg_hourly_activity
       SELECT date_trunc('hour', event_timestamp), min(activity_date), user_login_state,
              count(*),
              count(*) FILTER (WHERE event_name IN ('page_view', 'screen_view')),
              count(*) FILTER (WHERE event_name = 'view_item'),
              count(*) FILTER (WHERE event_name = 'add_to_cart'),
              count(*) FILTER (WHERE event_name = 'begin_checkout'),
              count(*) FILTER (WHERE event_name = 'purchase'),
              sum(revenue),
              count(DISTINCT client_id), count(DISTINCT user_id), count(DISTINCT session_id),
              count(*) FILTER (WHERE starts_session),
              count(*) FILTER (WHERE is_first_visit)
       FROM etl_day_events GROUP BY 1, 3""",
    "DELETE FROM dw.agg_daily_funnel WHERE activity_date >= %(d0)s AND activity_date < %(d1)s",
    """INSERT INTO dw.agg_daily_funnel
       SELECT activity_date,
              CASE WHEN grouping(product_category) = 1 THEN '(all)' ELSE product_category END,
              CASE WHEN grouping(product_brand) = 1 THEN '(all)' ELSE product_brand END,
              user_login_state,
              count(DISTINCT session_id) FILTER (WHERE event_name = 'view_item'),
              count(DISTINCT session_id) FILTER (WHERE event_name = 'add_to_cart'),
              count(DISTINCT session_id) FILTER (WHERE event_name = 'begin_checkout'),
              count(DISTINCT session_id) FILTER (WHERE event_name = 'purchase')
       FROM etl_day_events
       WHERE event_name IN ('view_item', 'add_to_cart', 'begin_checkout', 'purchase')
       GROUP BY GROUPING SETS ((activity_date, user_login_state, product_category, product_brand),
                               (activity_date, user_login_state, product_category),
                               (activity_date, user_login_state))""",
]
# The other half: products (after its own REFRESH_DAY_EVENTS), daily sessions, page transitions.
REFRESH_ENGAGEMENT = [
    "DELETE FROM dw.agg_product_names WHERE activity_date >= %(d0)s AND activity_date < %(d1)s",
    """INSERT INTO dw.agg_product_names
       SELECT activity_date, product_id, product_category, product_brand, user_login_state, product_name,
              count(*)
       FROM etl_day_events
       WHERE product_id IS NOT NULL AND product_name IS NOT NULL
         AND event_name IN ('view_item', 'add_to_cart', 'purchase')
       GROUP BY 1, 2, 3, 4, 5, 6""",
    "DELETE FROM dw.agg_daily_product WHERE activity_date >= %(d0)s AND activity_date < %(d1)s",
    """INSERT INTO dw.agg_daily_product
       SELECT activity_date, product_id, product_category, product_brand, user_login_state, max(product_name),
              count(*) FILTER (WHERE event_name = 'view_item'),
              count(*) FILTER (WHERE event_name = 'add_to_cart'),
              count(*) FILTER (WHERE event_name = 'purchase'),
              coalesce(sum(units) FILTER (WHERE event_name = 'purchase'), 0),
              sum(revenue),
              count(DISTINCT session_id) FILTER (WHERE event_name = 'view_item')
       FROM etl_day_events
       WHERE product_id IS NOT NULL AND event_name IN ('view_item', 'add_to_cart', 'purchase')
       GROUP BY activity_date, product_id, product_category, product_brand, user_login_state""",
    "DELETE FROM dw.agg_daily_sessions WHERE activity_date >= %(d0)s AND activity_date < %(d1)s",
    """INSERT INTO dw.agg_daily_sessions
       SELECT session_date, user_login_state, count(*), count(*) FILTER (WHERE is_engaged),
              count(*) FILTER (WHERE is_converted), count(*) FILTER (WHERE is_first_visit),
              count(DISTINCT client_id), sum(page_view_count), sum(duration_seconds), sum(revenue)
       FROM dw.sessions WHERE session_date >= %(d0)s AND session_date < %(d1)s
       GROUP BY 1, 2""",
    "DELETE FROM dw.agg_daily_page_transitions WHERE activity_date >= %(d0)s AND activity_date < %(d1)s",
    # Right after a load dw.events and dw.sessions have no statistics for the new rows yet (autovacuum analyzes
    # them later; the ETL does not own them, so it cannot ANALYZE): the planner then expects a handful of page
    # views and probes the sessions' primary key once per page view (1M events: 3.8 s; with a hash join 1.9 s).
    # For a day of page views a hash join is the better plan anyway. Back to the default right after.
    "SET LOCAL enable_nestloop = off",
    """INSERT INTO dw.agg_daily_page_transitions
       WITH pv AS (
         SELECT e.session_id, e.event_timestamp, e.page_url_path,
                lag(e.page_url_path) OVER w AS prev_page, lead(e.page_url_path) OVER w AS next_page
         FROM dw.events e
         WHERE e.event_timestamp >= %(d0)s::date - 1 AND e.event_timestamp < %(d1)s::date + 1
           AND e.event_name IN ('page_view', 'screen_view') AND e.page_url_path IS NOT NULL
         WINDOW w AS (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id)
       ), steps AS (
         SELECT session_id, event_timestamp, coalesce(prev_page, '(entrance)') AS from_page,
                page_url_path AS to_page
         FROM pv
         UNION ALL
         SELECT session_id, event_timestamp, page_url_path, '(exit)' FROM pv WHERE next_page IS NULL
       )
       SELECT (st.event_timestamp AT TIME ZONE 'UTC')::date, s.user_login_state, st.from_page, st.to_page,
              count(*)
       FROM steps st JOIN dw.sessions s USING (session_id)
       WHERE st.event_timestamp >= %(d0)s::date AND st.event_timestamp < %(d1)s::date
       GROUP BY 1, 2, 3, 4""",
    "SET LOCAL enable_nestloop TO DEFAULT",
]
CLEAR_DIRTY = "DELETE FROM etl.dirty_days WHERE activity_date >= %(d0)s AND activity_date < %(d1)s"

# ---------------------------------------------------------------------------------------------------------
# Fast path (fast.py, sessions.py): lines parsed, typed, checked and (for most clients) sessionized in Python.

# Normalized rows of the batch: the slow path's lines (normalize_sql) and the fast path's rows that need SQL
# sessionization (COPY_NORM).
CREATE_NORM = f"""
CREATE TEMP TABLE IF NOT EXISTS etl_norm (
    file_idx integer NOT NULL, line_no integer NOT NULL, source_file text NOT NULL, problem text,
    {BY_NAME["event_id"].raw} text, {", ".join(f"{c.name} {c.sql_type}" for c in EVENT_COLUMNS)}
) ON COMMIT DELETE ROWS
"""
_EVENT_COLUMNS = column_list([*NAMES, "source_file"])
# parse.EventRow.text (its source_line as etl_norm's line_no) + file_idx
COPY_NORM = f"COPY etl_norm ({_EVENT_COLUMNS}, line_no, file_idx) FROM STDIN"
# parse.EventRow.text + session_id + is_first_visit: the final rows, straight into the warehouse.
COPY_EVENTS = f"COPY dw.events ({column_list([*NAMES, *PROVENANCE, *SESSION_ASSIGNED])}) FROM STDIN"
COPY_SESSIONS = ("COPY dw.sessions (session_id, client_id, user_id, user_login_state, session_start, session_end, "
                 "session_date, duration_seconds, event_count, page_view_count, landing_page, exit_page, "
                 "is_engaged, is_converted, is_first_visit, purchase_count, revenue) FROM STDIN")

# The batch's known clients: last event time and latest session (sessions.STATE_COLUMNS). Each client is looked up
# through the primary key (a LATERAL per client: with ``= ANY(...)`` the planner could read all of dw.clients).
CLIENT_STATE = """
SELECT c.client_id, c.last_seen_at, s.session_id, s.user_id, s.user_login_state, s.session_start, s.session_end,
       s.event_count, s.page_view_count, s.landing_page, s.exit_page, s.is_first_visit, s.purchase_count,
       s.revenue
FROM unnest(%(clients)s::text[]) AS k(client_id)
CROSS JOIN LATERAL (SELECT * FROM dw.clients c WHERE c.client_id = k.client_id OFFSET 0) c
LEFT JOIN LATERAL (SELECT * FROM dw.sessions s WHERE s.client_id = c.client_id
                   ORDER BY s.session_start DESC LIMIT 1) s ON true
"""
DELETE_SESSIONS = "DELETE FROM dw.sessions WHERE session_id = ANY(%(ids)s::uuid[])"
NEW_CLIENTS = ("INSERT INTO dw.clients (client_id, first_event_id, first_seen_at, last_seen_at) "
               "SELECT * FROM unnest(%(ids)s::text[], %(first)s::uuid[], %(first_at)s::timestamptz[], "
               "%(last_at)s::timestamptz[])")
SEEN_CLIENTS = ("UPDATE dw.clients c SET last_seen_at = greatest(c.last_seen_at, u.last_at) "
                "FROM unnest(%(seen_ids)s::text[], %(seen_last_at)s::timestamptz[]) AS u(client_id, last_at) "
                "WHERE c.client_id = u.client_id")

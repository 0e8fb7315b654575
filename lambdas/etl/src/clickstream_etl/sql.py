"""The set-based SQL of one load batch and of the aggregate refresh (PostgreSQL 15).

Every statement works on temp tables (emptied or dropped at commit) and the ``dw``/``etl`` tables described in
docs/warehouse.md. Parameters use psycopg2's ``%(name)s`` style.
"""

from __future__ import annotations

from collections.abc import Iterable

from .columns import (
    BY_NAME,
    DERIVED,
    EVENT_COLUMNS,
    NAMES,
    OBJECTS,
    PROVENANCE,
    SESSION_ASSIGNED,
    TOP_KEYS,
    Column,
    column_list,
)
from .rules import LOGIN_STATES

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
# hash it): per batch, that made a load grow with the table already loaded, and every batch read all of
# dw.clients. The index plan is right for any table size, so these statements ask for it (``script``).
INDEX_ONLY = ("seqscan", "hashjoin", "mergejoin")


def planner_off(off: tuple[str, ...]) -> list[str]:
    return [f"SET LOCAL enable_{method} = off" for method in off]


def planner_defaults(off: tuple[str, ...]) -> list[str]:
    return [f"SET LOCAL enable_{method} TO DEFAULT" for method in off]


def script(off: tuple[str, ...], statements: list[str]) -> str:
    """``statements`` as one script (one round trip) with the planner methods ``off`` disabled
    (``SET LOCAL enable_<method>``) and put back to their defaults after them, for the rest of the transaction."""
    return ";\n".join([*planner_off(off), *statements, *planner_defaults(off)])


def array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of ``values`` (each element quoted, ``\\`` and ``"`` escaped), for a parameter
    cast to ``text[]``, ``uuid[]`` or ``timestamptz[]``. psycopg2 adapts a Python list element by element (a
    datetime costs microseconds), a few thousand per batch on the thread that the parser and planner wait for; this is
    one string. None is not allowed (no element here is NULL)."""
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"


def batch_table(name: str, query: str) -> list[str]:
    """The statements that fill the batch's temp table ``name`` with ``query``. The table is created once per
    session (empty, with the query's columns) and emptied at each commit (``ON COMMIT DELETE ROWS``): creating and
    dropping it in every batch cost catalog work per table and batch."""
    return [f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS {query} WITH NO DATA",
            f"INSERT INTO {name} {query}"]


CREATE_BATCH_TABLES = [
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


# The instants the ETL stores: those Python's datetime holds (years 1 to 9999, UTC), for the rules decide in Python.
TIMESTAMP_RANGE = ("0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00")


def _timestamp(j: str, safe: bool) -> str:
    """A jsonb value -> timestamptz: RFC 3339 text, or a number of epoch milliseconds; NULL (invalid) outside
    TIMESTAMP_RANGE."""
    text = f"{j} #>> '{{}}'"
    # Only digits-first ISO text: PostgreSQL would also accept 'now', 'yesterday', 'epoch', 'infinity', ...
    value = (f"CASE WHEN jsonb_typeof({j}) = 'string' AND {text} ~ '{ISO_PREFIX}' THEN {_cast(text, 'ts', safe)} "
             f"WHEN jsonb_typeof({j}) = 'number' THEN {_cast(text, 'epoch_ms', safe)} END")
    low, high = TIMESTAMP_RANGE
    return f"(SELECT CASE WHEN t BETWEEN '{low}' AND '{high}' THEN t END FROM (SELECT {value} AS t) r)"  # noqa: S608


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


# The order in which the general decoder checks a line's columns: the first failing check names the line's reject.
CHECK_ORDER = ("event_name", "client_id", "event_timestamp", "event_id", "received_at", "product_price",
               "product_discount_price", "quantity", "user_login_state")


def _checks(c: Column) -> list[str]:
    """The ``CASE`` branches that reject a line for column ``c``: missing when required, invalid when its value
    does not cast or is out of range. A missing receipt time is the freshness rule's to judge (``decoded_row``)."""
    path = ".".join(c.source)
    if c.kind in ("name", "required"):
        return [f"WHEN {c.name} IS NULL THEN 'missing_field:{path}'"]
    if c.required:
        return [f"WHEN {c.raw} IS NULL THEN 'missing_field:{path}'",
                f"WHEN {c.name} IS NULL THEN 'invalid_field:{path}'"]
    if c.kind == "timestamp":  # received_at
        return [f"WHEN {c.raw} IS NOT NULL AND {c.name} IS NULL THEN 'invalid_field:{path}'"]
    if c.kind in ("money", "quantity"):
        return [f"WHEN {c.raw} IS NOT NULL AND ({c.name} IS NULL OR {c.name} < 0) THEN 'invalid_field:{path}'"]
    if c.kind == "login":
        states = ", ".join(f"'{s}'" for s in sorted(LOGIN_STATES))
        return [f"WHEN {c.raw} IS NOT NULL AND {c.raw} NOT IN ({states}) THEN 'invalid_field:{path}'"]
    raise ValueError(f"no check for {c.name}")


def _final(c: Column) -> str:
    return f"{c.raw} AS {c.name}" if c.kind == "login" else c.name


def normalize_sql(safe: bool) -> str:
    """etl_raw -> etl_decoded (CREATE_DECODED): each line's typed, trimmed columns as the line states them, plus
    ``problem`` ('reason:detail') for a line that is not a well-formed event, made from columns.EVENT_COLUMNS. The
    business rules (login state, freshness) are applied to the decoded lines in Python (``parse.decoded_row``).

    ``safe`` replaces plain casts (which abort the statement on bad data) by NULL-returning functions; both
    modes give the same result on data the fast mode accepts.
    """
    id_raw = BY_NAME["event_id"].raw
    reads = ",\n           ".join(_read(c) for c in EVENT_COLUMNS)
    casts = ",\n           ".join(_typed(c, safe) for c in EVENT_COLUMNS if c.raw != c.name and c.kind != "login")
    checks = "\n             ".join(b for name in CHECK_ORDER for b in _checks(BY_NAME[name]))
    # Only this module's own expressions are interpolated (no input data).
    return f"""
INSERT INTO etl_decoded (file_idx, line_no, problem, {id_raw}, {column_list(NAMES)})
WITH t AS (
    SELECT r.file_idx, r.line_no, r.doc IS NULL AS doc_missing, r.unstorable, jsonb_typeof(r.doc) AS doc_type,
           {reads}
    FROM etl_raw r
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
           END AS problem
    FROM c
)
SELECT file_idx, line_no, problem, {id_raw}, {", ".join(_final(c) for c in EVENT_COLUMNS)}
FROM v
"""  # noqa: S608


CREATE_DECODED = f"""
CREATE TEMP TABLE IF NOT EXISTS etl_decoded (
    file_idx integer NOT NULL, line_no integer NOT NULL, problem text,
    {BY_NAME["event_id"].raw} text, {", ".join(f"{c.name} {c.sql_type}" for c in EVENT_COLUMNS)}
) ON COMMIT DELETE ROWS
"""
# The decoded lines: (file_idx, line_no, reason, detail, event id as read, *columns.NAMES); reason None = decoded.
DECODED = f"""
SELECT file_idx, line_no, split_part(problem, ':', 1), substr(problem, strpos(problem, ':') + 1),
       {BY_NAME["event_id"].raw}, {column_list(NAMES)}
FROM etl_decoded ORDER BY file_idx, line_no
"""  # noqa: S608 - column names only

# parse.EventRow.text + session_id + is_first_visit + revenue: the final rows, straight into the warehouse.
EVENT_COPY_COLUMNS = [*NAMES, *PROVENANCE, *SESSION_ASSIGNED, *DERIVED]
COPY_EVENTS = f"COPY dw.events ({column_list(EVENT_COPY_COLUMNS)}) FROM STDIN"
# The hot window's event-id ledger (sql/dw_hot_window/enable.sql), written by the load with its events.
COPY_EVENT_IDS = "COPY dw.event_ids (event_id) FROM STDIN"
COPY_SESSIONS = ("COPY dw.sessions (session_id, client_id, user_id, user_login_state, session_start, session_end, "
                 "session_date, duration_seconds, event_count, page_view_count, landing_page, exit_page, "
                 "is_engaged, is_converted, is_first_visit, purchase_count, revenue, source, medium, campaign, "
                 "channel_group, device_category, browser) FROM STDIN")

# The batch's known clients: last event time and latest session (sessions.STATE_COLUMNS). Each client is looked up
# through the primary key (a LATERAL per client: with ``= ANY(...)`` the planner could read all of dw.clients).
CLIENT_STATE = """
SELECT c.client_id, c.last_seen_at, s.session_id, s.user_id, s.user_login_state, s.session_start, s.session_end,
       s.event_count, s.page_view_count, s.landing_page, s.exit_page, s.is_first_visit, s.purchase_count,
       s.revenue, s.source, s.medium, s.campaign, s.channel_group, s.device_category, s.browser
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

# The warehouse's side of plan.plan_in_warehouse: which of the batch's events are loaded already; each client's
# first event, last event time and the start of its earliest session that its first new event (``min_ts``)
# continues (rules.new_session: ended at most the timeout before); the loaded events of each client's window.
LOADED_EVENTS = ("SELECT e.event_id::text FROM unnest(%(ids)s::uuid[]) AS k(event_id) "
                 "JOIN dw.events e ON e.event_id = k.event_id")
# The same from the hot window's ledger: every id ever loaded, also of days that left the warehouse.
LOADED_EVENT_IDS = ("SELECT e.event_id::text FROM unnest(%(ids)s::uuid[]) AS k(event_id) "
                    "JOIN dw.event_ids e ON e.event_id = k.event_id")
CLIENT_WINDOWS = """
SELECT k.client_id, c.first_event_id::text, c.first_seen_at, c.last_seen_at,
       (SELECT min(s.session_start) FROM dw.sessions s
         WHERE s.client_id = k.client_id AND s.session_end >= k.min_ts - %(timeout)s) AS session_start
FROM unnest(%(clients)s::text[], %(min_ts)s::timestamptz[]) AS k(client_id, min_ts)
LEFT JOIN LATERAL (SELECT * FROM dw.clients c WHERE c.client_id = k.client_id OFFSET 0) c ON true
"""
WINDOW_EVENTS = """
SELECT e.client_id, e.event_id::text, e.event_timestamp, e.event_name, e.user_id, e.user_login_state,
       e.page_url_path, e.product_price, e.product_discount_price, e.quantity, e.session_id::text, e.is_first_visit,
       e.page_referrer, e.device_category, e.browser
FROM unnest(%(clients)s::text[], %(starts)s::timestamptz[]) AS w(client_id, win_start)
CROSS JOIN LATERAL (SELECT * FROM dw.events e WHERE e.client_id = w.client_id AND e.event_timestamp >= w.win_start
                    OFFSET 0) e
"""
# Its writes (load.apply_warehouse_plan): the windows' sessions, the loaded events whose session or first visit
# changed, the clients (final values).
DELETE_WINDOWS = """
DELETE FROM dw.sessions s USING unnest(%(w_clients)s::text[], %(w_starts)s::timestamptz[]) AS w(client_id, win_start)
WHERE s.client_id = w.client_id AND s.session_start >= w.win_start
"""
REWRITE_EVENTS = """
UPDATE dw.events e SET session_id = u.session_id, is_first_visit = u.is_first_visit
FROM unnest(%(r_ids)s::uuid[], %(r_sessions)s::uuid[], %(r_first)s::boolean[])
     AS u(event_id, session_id, is_first_visit)
WHERE e.event_id = u.event_id
"""
UPSERT_CLIENTS = """
INSERT INTO dw.clients AS c (client_id, first_event_id, first_seen_at, last_seen_at)
SELECT * FROM unnest(%(c_ids)s::text[], %(c_first)s::uuid[], %(c_first_at)s::timestamptz[],
                     %(c_last_at)s::timestamptz[])
ON CONFLICT (client_id) DO UPDATE SET first_event_id = excluded.first_event_id,
    first_seen_at = excluded.first_seen_at, last_seen_at = excluded.last_seen_at
"""

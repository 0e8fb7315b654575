"""The set-based SQL of one load batch and of the aggregate refresh (PostgreSQL 15).

Every statement works on temp tables (emptied or dropped at commit) and the ``dw``/``etl`` tables described in
docs/warehouse.md. Parameters use psycopg2's ``%(name)s`` style.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def kept(name: str, query: str) -> list[str]:
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


def normalize_sql(safe: bool) -> str:
    """etl_raw -> etl_norm (CREATE_NORM): typed, trimmed columns plus ``problem`` ('reason:detail') for rejected lines.

    ``safe`` replaces plain casts (which abort the statement on bad data) by NULL-returning functions; both
    modes give the same result on data the fast mode accepts.
    """
    # Only this module's own cast expressions are interpolated (no input data).
    return f"""
INSERT INTO etl_norm (file_idx, line_no, source_file, problem, event_id_t, event_id, event_timestamp, event_name,
    user_id, user_login_state, identity_source, client_id, client_session_id, page_url_path, page_referrer,
    page_title, product_id, product_name, product_category, product_brand, product_price, product_discount_price,
    product_url_path, quantity, order_id, search_term, received_at, request_id)
WITH t AS (
    SELECT r.file_idx, r.line_no, f.source_file, f.last_modified, r.doc IS NULL AS doc_missing, r.unstorable,
           jsonb_typeof(r.doc) AS doc_type,
           nullif(btrim(x.event_id), '') AS event_id_t,
           lower(nullif(btrim(x.event_name), '')) AS event_name,
           nullif(btrim(x.client_id), '') AS client_id,
           nullif(x.event_timestamp, 'null'::jsonb) AS ts_j,
           nullif(x.received_at, 'null'::jsonb) AS recv_j,
           nullif(btrim(x.user_id), '') AS user_id,
           nullif(btrim(x.session_id), '') AS client_session_id,
           nullif(btrim(x.user_login_state), '') AS login_t,
           nullif(btrim(x.identity_source), '') AS identity_source,
           nullif(btrim(pg.url_path), '') AS page_url_path,
           nullif(btrim(pg.referrer), '') AS page_referrer,
           nullif(btrim(pg.title), '') AS page_title,
           nullif(btrim(pr.id), '') AS product_id,
           nullif(btrim(pr.name), '') AS product_name,
           nullif(btrim(pr.category), '') AS product_category,
           nullif(btrim(pr.brand), '') AS product_brand,
           nullif(btrim(pr.price), '') AS price_t,
           nullif(btrim(pr.discount_price), '') AS discount_t,
           nullif(btrim(pr.url_path), '') AS product_url_path,
           nullif(btrim(x.quantity), '') AS quantity_t,
           nullif(btrim(x.order_id), '') AS order_id,
           nullif(btrim(x.search_term), '') AS search_term,
           nullif(btrim(x.request_id), '') AS request_id
    FROM etl_raw r
    JOIN etl_files f USING (file_idx)
    LEFT JOIN LATERAL jsonb_to_record(CASE jsonb_typeof(r.doc) WHEN 'object' THEN r.doc END) AS x(
        event_id text, event_name text, client_id text, event_timestamp jsonb, received_at jsonb, user_id text,
        session_id text, user_login_state text, identity_source text, page jsonb, product jsonb,
        quantity text, order_id text, search_term text, request_id text) ON true
    LEFT JOIN LATERAL jsonb_to_record(CASE jsonb_typeof(x.page) WHEN 'object' THEN x.page END) AS pg(
        url_path text, referrer text, title text) ON true
    LEFT JOIN LATERAL jsonb_to_record(CASE jsonb_typeof(x.product) WHEN 'object' THEN x.product END) AS pr(
        id text, name text, category text, brand text, price text, discount_price text, url_path text) ON true
    OFFSET 0
), c AS (
    SELECT t.*,
           CASE WHEN event_id_t IS NOT NULL THEN {_cast('event_id_t', 'uuid', safe)} END AS event_id,
           {_timestamp('ts_j', safe)} AS event_timestamp,
           {_timestamp('recv_j', safe)} AS received_at_j,
           CASE WHEN price_t IS NOT NULL THEN {_cast('price_t', 'money', safe)} END AS product_price,
           CASE WHEN discount_t IS NOT NULL THEN {_cast('discount_t', 'money', safe)} END AS product_discount_price,
           CASE WHEN quantity_t IS NOT NULL THEN {_cast('quantity_t', 'int', safe)} END AS quantity
    FROM t
    OFFSET 0
), v AS (
    SELECT c.*, coalesce(received_at_j, last_modified) AS received_at,
           CASE
             WHEN doc_missing AND unstorable
               THEN 'unstorable_text:a string holds \\u0000 (NUL), which PostgreSQL text cannot store'
             WHEN doc_missing THEN 'malformed_json:line is not valid JSON'
             WHEN doc_type <> 'object' THEN 'not_an_object:line is a JSON ' || doc_type
             WHEN event_name IS NULL THEN 'missing_field:event_name'
             WHEN client_id IS NULL THEN 'missing_field:client_id'
             WHEN ts_j IS NULL THEN 'missing_field:event_timestamp'
             WHEN event_timestamp IS NULL THEN 'invalid_field:event_timestamp'
             WHEN event_id_t IS NULL THEN 'missing_field:event_id'
             WHEN event_id IS NULL THEN 'invalid_field:event_id'
             WHEN recv_j IS NOT NULL AND received_at_j IS NULL THEN 'invalid_field:received_at'
             WHEN coalesce(received_at_j, last_modified) IS NULL THEN 'missing_field:received_at'
             WHEN price_t IS NOT NULL AND (product_price IS NULL OR product_price < 0)
               THEN 'invalid_field:product.price'
             WHEN discount_t IS NOT NULL AND (product_discount_price IS NULL OR product_discount_price < 0)
               THEN 'invalid_field:product.discount_price'
             WHEN quantity_t IS NOT NULL AND (quantity IS NULL OR quantity < 0) THEN 'invalid_field:quantity'
             WHEN login_t IS NOT NULL AND login_t NOT IN ('logged_in', 'logged_out')
               THEN 'invalid_field:user_login_state'
             WHEN event_timestamp < coalesce(received_at_j, last_modified) - %(freshness)s
               THEN 'stale_event:older than the freshness window before received_at'
             WHEN event_timestamp > coalesce(received_at_j, last_modified) + %(future_skew)s
               THEN 'future_event:later than the allowed skew after received_at'
           END AS problem
    FROM c
)
SELECT file_idx, line_no, source_file, problem, event_id_t, event_id, event_timestamp, event_name, user_id,
       coalesce(login_t, CASE WHEN user_id IS NOT NULL THEN 'logged_in' ELSE 'logged_out' END) AS user_login_state,
       identity_source, client_id, client_session_id, page_url_path, page_referrer, page_title,
       product_id, product_name, product_category, product_brand, product_price, product_discount_price,
       product_url_path, quantity, order_id, search_term, received_at, request_id
FROM v
"""  # noqa: S608


REJECTS = """
SELECT file_idx, line_no, split_part(problem, ':', 1), substr(problem, strpos(problem, ':') + 1), event_id_t
FROM etl_norm WHERE problem IS NOT NULL ORDER BY file_idx, line_no
"""

# Valid rows not yet in the warehouse; the first occurrence (object key order, then line) wins.
NEW_EVENTS = kept("etl_new", """
SELECT DISTINCT ON (n.event_id) n.*
FROM etl_norm n
WHERE n.problem IS NULL
  AND NOT EXISTS (SELECT 1 FROM dw.events e WHERE e.event_id = n.event_id)
ORDER BY n.event_id, n.file_idx, n.line_no
""")

PER_FILE_COUNTS = """
SELECT file_idx,
       count(*) FILTER (WHERE problem IS NULL) AS valid,
       count(*) FILTER (WHERE problem IS NOT NULL) AS rejected
FROM etl_norm GROUP BY file_idx
"""
NEW_PER_FILE = "SELECT file_idx, count(*) FROM etl_new GROUP BY file_idx"

# First event per touched client; remember first events that stop being first (a late, earlier event).
CLIENTS = [
    *kept("etl_cmin", """
       SELECT DISTINCT ON (client_id) client_id, event_id, event_timestamp,
              max(event_timestamp) OVER (PARTITION BY client_id) AS last_ts
       FROM etl_new ORDER BY client_id, event_timestamp, event_id"""),
    *kept("etl_oldfirst", """
       SELECT c.client_id, c.first_event_id
       FROM dw.clients c JOIN etl_cmin m USING (client_id)
       WHERE (m.event_timestamp, m.event_id) < (c.first_seen_at, c.first_event_id)"""),
    """INSERT INTO dw.clients AS c (client_id, first_event_id, first_seen_at, last_seen_at)
       SELECT client_id, event_id, event_timestamp, last_ts FROM etl_cmin
       ON CONFLICT (client_id) DO UPDATE SET
         first_event_id = CASE WHEN (excluded.first_seen_at, excluded.first_event_id)
                                     < (c.first_seen_at, c.first_event_id)
                               THEN excluded.first_event_id ELSE c.first_event_id END,
         first_seen_at = least(c.first_seen_at, excluded.first_seen_at),
         last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at)""",
    *kept("etl_first", """
       SELECT c.client_id, c.first_event_id FROM dw.clients c JOIN etl_cmin USING (client_id)"""),
    """UPDATE dw.events e SET is_first_visit = false
       FROM etl_oldfirst o WHERE e.event_id = o.first_event_id AND e.is_first_visit""",
]

# Re-sessionize every touched client from the start of its earliest session the new events can touch: the touched
# clients with that start (etl_tc), then their events from there on, old and new, in sessions (etl_sess).
TOUCHED_CLIENTS = kept("etl_tc", """
       SELECT m.client_id,
              least(m.min_ts, (SELECT min(s.session_start) FROM dw.sessions s
                               WHERE s.client_id = m.client_id AND s.session_end >= m.min_ts - %(timeout)s))
                AS win_start
       FROM (SELECT client_id, min(event_timestamp) AS min_ts FROM etl_new GROUP BY client_id) m""")
SESSIONIZE = kept("etl_sess", """
       SELECT s.*, md5(s.client_id || '|' || extract(epoch FROM s.session_start)::text)::uuid AS session_id,
              s.event_id IN (SELECT first_event_id FROM etl_first) AS is_first_visit
       FROM (
         SELECT b.*, max(CASE WHEN b.brk THEN b.event_timestamp END)
                       OVER (PARTITION BY b.client_id ORDER BY b.event_timestamp, b.event_id
                             ROWS UNBOUNDED PRECEDING) AS session_start
         FROM (
           SELECT w.*, coalesce(w.event_timestamp - lag(w.event_timestamp)
                                  OVER (PARTITION BY w.client_id ORDER BY w.event_timestamp, w.event_id)
                                > %(timeout)s, true) AS brk
           FROM (
                 SELECT e.event_id, e.client_id, e.event_timestamp, e.event_name, e.user_id, e.user_login_state,
                        e.page_url_path, e.product_price, e.product_discount_price, e.quantity,
                        e.session_id AS old_session_id, false AS is_new
                 FROM etl_tc t JOIN dw.events e ON e.client_id = t.client_id AND e.event_timestamp >= t.win_start
                 UNION ALL
                 SELECT event_id, client_id, event_timestamp, event_name, user_id, user_login_state,
                        page_url_path, product_price, product_discount_price, quantity, NULL::uuid, true
                 FROM etl_new
           ) w
         ) b
       ) s""")

# The new events, answering how many it inserted (as the last statement of a script).
INSERT_EVENTS = """
WITH ins AS (
INSERT INTO dw.events (event_id, event_timestamp, event_name, user_id, user_login_state, identity_source,
    client_id, session_id, client_session_id, is_first_visit, page_url_path, page_referrer, page_title,
    product_id, product_name, product_category, product_brand, product_price, product_discount_price,
    product_url_path, quantity, order_id, search_term, received_at, request_id, source_file, source_line)
SELECT n.event_id, n.event_timestamp, n.event_name, n.user_id, n.user_login_state, n.identity_source,
    n.client_id, s.session_id, n.client_session_id, s.is_first_visit, n.page_url_path, n.page_referrer,
    n.page_title, n.product_id, n.product_name, n.product_category, n.product_brand, n.product_price,
    n.product_discount_price, n.product_url_path, n.quantity, n.order_id, n.search_term, n.received_at,
    n.request_id, n.source_file, n.line_no
FROM etl_new n JOIN etl_sess s ON s.event_id = n.event_id AND s.is_new
RETURNING 1
)
SELECT count(*) FROM ins
"""

UPDATE_OLD_EVENTS = """
UPDATE dw.events e SET session_id = s.session_id, is_first_visit = s.is_first_visit
FROM etl_sess s
WHERE NOT s.is_new AND e.event_id = s.event_id
  AND (e.session_id <> s.session_id OR e.is_first_visit <> s.is_first_visit)
"""

REPLACE_SESSIONS = [
    """DELETE FROM dw.sessions s USING etl_tc t
       WHERE s.client_id = t.client_id AND s.session_start >= t.win_start""",
    """INSERT INTO dw.sessions (session_id, client_id, user_id, user_login_state, session_start, session_end,
           session_date, duration_seconds, event_count, page_view_count, landing_page, exit_page, is_engaged,
           is_converted, is_first_visit, purchase_count, revenue)
       SELECT session_id, client_id, user_id, user_login_state, session_start, session_end,
              (session_start AT TIME ZONE 'UTC')::date, duration_seconds, event_count, page_view_count,
              landing_page, exit_page,
              duration_seconds > 10 OR purchase_count > 0 OR page_view_count >= 2,
              purchase_count > 0, is_first_visit, purchase_count, revenue
       FROM (
         SELECT session_id, client_id,
                (array_agg(user_id ORDER BY event_timestamp DESC, event_id DESC)
                   FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
                CASE WHEN bool_or(user_login_state = 'logged_in') THEN 'logged_in' ELSE 'logged_out' END
                  AS user_login_state,
                min(event_timestamp) AS session_start, max(event_timestamp) AS session_end,
                extract(epoch FROM max(event_timestamp) - min(event_timestamp))::numeric(12, 3)
                  AS duration_seconds,
                count(*) AS event_count,
                count(*) FILTER (WHERE event_name IN ('page_view', 'screen_view')) AS page_view_count,
                (array_agg(page_url_path ORDER BY event_timestamp, event_id)
                   FILTER (WHERE event_name IN ('page_view', 'screen_view') AND page_url_path IS NOT NULL))[1]
                  AS landing_page,
                (array_agg(page_url_path ORDER BY event_timestamp DESC, event_id DESC)
                   FILTER (WHERE event_name IN ('page_view', 'screen_view') AND page_url_path IS NOT NULL))[1]
                  AS exit_page,
                bool_or(is_first_visit) AS is_first_visit,
                count(*) FILTER (WHERE event_name = 'purchase') AS purchase_count,
                coalesce(sum(coalesce(product_discount_price, product_price, 0) * coalesce(quantity, 1))
                           FILTER (WHERE event_name = 'purchase'), 0) AS revenue
         FROM etl_sess GROUP BY session_id, client_id
       ) a""",
]


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
CREATE_NORM = """
CREATE TEMP TABLE IF NOT EXISTS etl_norm (
    file_idx integer NOT NULL, line_no integer NOT NULL, source_file text NOT NULL, problem text,
    event_id_t text, event_id uuid, event_timestamp timestamptz, event_name text, user_id text,
    user_login_state text, identity_source text, client_id text, client_session_id text, page_url_path text,
    page_referrer text, page_title text, product_id text, product_name text, product_category text,
    product_brand text, product_price numeric(14, 2), product_discount_price numeric(14, 2),
    product_url_path text, quantity integer, order_id text, search_term text, received_at timestamptz,
    request_id text
) ON COMMIT DELETE ROWS
"""
_EVENT_COLUMNS = ("event_id, event_timestamp, event_name, user_id, user_login_state, identity_source, client_id, "
                  "client_session_id, page_url_path, page_referrer, page_title, product_id, product_name, "
                  "product_category, product_brand, product_price, product_discount_price, product_url_path, "
                  "quantity, order_id, search_term, received_at, request_id, source_file")
# fast.FastRow.text + file_idx
COPY_NORM = f"COPY etl_norm ({_EVENT_COLUMNS}, line_no, file_idx) FROM STDIN"
# fast.FastRow.text + session_id + is_first_visit: the final rows, straight into the warehouse.
COPY_EVENTS = f"COPY dw.events ({_EVENT_COLUMNS}, source_line, session_id, is_first_visit) FROM STDIN"
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

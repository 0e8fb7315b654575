"""The test oracle of the ETL's sessionization: the same batch sessionized set-based in SQL, independently of the
Python code the ETL runs (``clickstream_etl.plan``, ``clickstream_etl.sessions``).

``sessionize(cur, rows, params)`` has the signature of ``load.sessionize_in_warehouse``: a test that replaces that
function with this one (and turns ``load.DIRECT`` off) loads every row through SQL, and compares the tables with
what the ETL itself loads. The session rules' SQL forms are here, beside their statements (sessionize.sql);
tests/etl/test_rules.py checks each against its Python form in clickstream_etl/rules.py.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

from clickstream_etl import acquisition, aggregates, queries, rules, sql
from clickstream_etl.columns import BY_NAME, DERIVED, EVENT_COLUMNS, NAMES, PROVENANCE, SESSION_ASSIGNED, column_list
from clickstream_etl.parse import EventRow

# --- the session rules in SQL ---------------------------------------------------------------------------------


def new_session_sql(gap: str) -> str:
    return f"{gap} > %(timeout)s"


def continues_sql(session_end: str, at: str) -> str:
    """A session that an event at ``at`` continues (not ``new_session``): it ended at most the timeout before."""
    return f"{session_end} >= {at} - %(timeout)s"


def revenue_sql(alias: str = "") -> str:
    """The revenue of a purchase event (of the row ``alias``), without the test for a purchase."""
    a = f"{alias}." if alias else ""
    return f"coalesce({a}product_discount_price, {a}product_price, 0) * coalesce({a}quantity, 1)"


def event_revenue_sql(alias: str = "") -> str:
    """Any event's revenue: a purchase's, else 0."""
    a = f"{alias}." if alias else ""
    return f"CASE WHEN {a}event_name = '{rules.PURCHASE}' THEN {revenue_sql(alias)} ELSE 0 END"


SESSION_ID_SQL = "md5({client_id} || '|' || extract(epoch FROM {start})::text)::uuid"
SESSION_LOGIN_SQL = (f"CASE WHEN bool_or(user_login_state = '{rules.LOGGED_IN}') THEN '{rules.LOGGED_IN}' "
                     f"ELSE '{rules.LOGGED_OUT}' END")
ENGAGED_SQL = (f"duration_seconds > {rules.ENGAGED_MIN_SECONDS} OR purchase_count > 0 "
               f"OR page_view_count >= {rules.ENGAGED_MIN_PAGE_VIEWS}")
CONVERTED_SQL = "purchase_count > 0"
FIRST_EVENT_ORDER = "event_timestamp, event_id"

SQL = {
    **rules.SQL,
    "revenue": revenue_sql(),
    "new_session": new_session_sql("w.event_timestamp - lag(w.event_timestamp) OVER (PARTITION BY w.client_id "
                                   "ORDER BY w.event_timestamp, w.event_id)"),
    "continues": continues_sql("s.session_end", "m.min_ts"),
    "session_id": SESSION_ID_SQL.format(client_id="s.client_id", start="s.session_start"),
    "first_event_order": FIRST_EVENT_ORDER,
    "session_login": SESSION_LOGIN_SQL,
    "engaged": ENGAGED_SQL,
    "converted": CONVERTED_SQL,
}

# --- the statements -------------------------------------------------------------------------------------------

_BLOCKS = queries.blocks((Path(__file__).parent / "sessionize.sql").read_text(encoding="utf-8"), SQL)


def _one(name: str) -> str:
    (only,) = _BLOCKS[name]
    return only


CREATE_NORM = f"""
CREATE TEMP TABLE IF NOT EXISTS etl_norm (
    file_idx integer NOT NULL, line_no integer NOT NULL, source_file text NOT NULL, problem text,
    {BY_NAME["event_id"].raw} text, {", ".join(f"{c.name} {c.sql_type}" for c in EVENT_COLUMNS)}
) ON COMMIT DELETE ROWS
"""
# parse.EventRow.text (its source_line as etl_norm's line_no) + file_idx
COPY_NORM = f"COPY etl_norm ({column_list([*NAMES, 'source_file'])}, line_no, file_idx) FROM STDIN"
NEW_EVENTS = sql.batch_table("etl_new", _one("new_events_table"))
NEW_PER_FILE = "SELECT file_idx, count(*) FROM etl_new GROUP BY file_idx"
CLIENTS = [
    *sql.batch_table("etl_cmin", _one("client_first_table")),
    *sql.batch_table("etl_oldfirst", _one("old_first_table")),
    *_BLOCKS["upsert_clients"],
    *sql.batch_table("etl_first", _one("first_events_table")),
    *_BLOCKS["clear_old_first"],
]
TOUCHED_CLIENTS = sql.batch_table("etl_tc", _one("touched_clients_table"))
SESSIONIZE = sql.batch_table("etl_sess", _one("sessionize_table"))
INSERT_EVENTS = f"""
WITH ins AS (
INSERT INTO dw.events ({column_list([*NAMES, *PROVENANCE, *SESSION_ASSIGNED, *DERIVED])})
SELECT {", ".join(f"n.{c}" for c in NAMES)}, n.source_file, n.line_no, s.session_id, s.is_first_visit,
       {event_revenue_sql("n")}
FROM etl_new n JOIN etl_sess s ON s.event_id = n.event_id AND s.is_new
RETURNING 1
)
SELECT count(*) FROM ins
"""  # noqa: S608 - column names only
UPDATE_OLD_EVENTS = _one("update_old_events")
LANDING_EVENTS = _one("landing_events")
SET_ACQUISITION = """
UPDATE dw.sessions s SET source = a.source, medium = a.medium, campaign = a.campaign, channel_group = a.channel_group,
    device_category = a.device_category, browser = a.browser
FROM unnest(%(ids)s::uuid[], %(source)s::text[], %(medium)s::text[], %(campaign)s::text[], %(channel)s::text[],
            %(device)s::text[], %(browser)s::text[])
     AS a(session_id, source, medium, campaign, channel_group, device_category, browser)
WHERE s.session_id = a.session_id
"""
REPLACE_SESSIONS = _BLOCKS["replace_sessions"]


def sessionize(cur, rows: list[EventRow], params: dict) -> tuple[int, Counter[int]]:
    """Dedup ``rows`` against the warehouse, first visits, window sessionization of the touched clients, all in
    SQL. Returns (loaded, new per file)."""
    if not rows:
        return 0, Counter()
    cur.execute(CREATE_NORM)
    data = "".join(f"{r.text}\t{r.file_idx}\n" for r in rows).encode()
    cur.copy_expert(COPY_NORM, io.BytesIO(data))
    cur.execute(";\n".join([
        *NEW_EVENTS,
        *TOUCHED_CLIENTS,
        "ANALYZE etl_tc",
        aggregates.record_script("etl_tc t"),
        sql.script(sql.INDEX_ONLY, CLIENTS),
        *SESSIONIZE,
        NEW_PER_FILE,
    ]), params)
    new = Counter(dict(cur.fetchall()))
    cur.execute(";\n".join([UPDATE_OLD_EVENTS, *REPLACE_SESSIONS, INSERT_EVENTS]))
    loaded = cur.fetchone()[0]
    set_acquisition(cur)
    return loaded, new


def set_acquisition(cur) -> None:
    """Each re-made session's acquisition and device: those of its first event as chosen here in SQL, the
    acquisition by the ETL's one rule (``acquisition.acquisition``, checked on its own by
    tests/etl/test_acquisition.py): what this checks is that the ETL's plans take the right first event, across
    runs and after late events."""
    cur.execute(LANDING_EVENTS)
    landing = cur.fetchall()
    acq = [acquisition.acquisition(page, referrer) for _, page, referrer, _, _ in landing]
    cur.execute(SET_ACQUISITION, {  # lists (psycopg2 adapts None), not sql.array
        "ids": [r[0] for r in landing], "source": [a.source for a in acq], "medium": [a.medium for a in acq],
        "campaign": [a.campaign for a in acq], "channel": [a.channel_group for a in acq],
        "device": [r[3] for r in landing], "browser": [r[4] for r in landing]})

"""Aggregates added after the ETL's own set (sql/dw/0005_*), each refreshed by one function here.

``refresh_client_returns`` keeps ``dw.agg_daily_client_returns`` (sql/dw/0005_dashboards.sql) in
step with ``dw.sessions``; the overview dashboard counts distinct visitors of any date range from it.

Called by ``clickstream_etl.load.refresh_aggregates``, inside its transaction, once per refresh with the earliest
dirty day.

It reads ``dw.sessions`` only (never ``etl.dirty_days`` or the temp tables), so its place inside the transaction
does not matter otherwise. It is idempotent (delete + insert of the same rows): calling it twice is harmless.
"""

from __future__ import annotations

import datetime as dt

# Must be at least the dashboards' longest date range (files/shiny/app/logic/filters.R MAX_RANGE_DAYS): a previous
# active day further back than this is stored as '-infinity'.
HORIZON_DAYS = 366

# Every (client, day, login state) from %(d0)s on, with the client's previous active day: from the days in the
# window itself (lag), or, for its first day in the window, its newest session before %(d0)s (per login state and
# for '(all)'; one index range scan of sessions_client_start_idx per client of the window, HORIZON_DAYS back).
REFRESH_CLIENT_RETURNS = [
    "DELETE FROM dw.agg_daily_client_returns WHERE activity_date >= %(d0)s",
    """INSERT INTO dw.agg_daily_client_returns (activity_date, user_login_state, previous_date, clients)
       WITH active AS (
           SELECT client_id, session_date, user_login_state FROM dw.sessions
            WHERE session_date >= %(d0)s GROUP BY 1, 2, 3
       ), keyed AS (
           SELECT client_id, session_date, user_login_state FROM active
           UNION ALL
           SELECT DISTINCT client_id, session_date, '(all)' FROM active
       ), earlier AS (
           SELECT s.client_id, s.user_login_state, max(s.session_date) AS p
             FROM (SELECT DISTINCT client_id FROM active) c
             JOIN dw.sessions s ON s.client_id = c.client_id
              AND s.session_start >= (%(d0)s::date - %(horizon)s)::timestamp AT TIME ZONE 'UTC'
              AND s.session_start < %(d0)s::date::timestamp AT TIME ZONE 'UTC'
            GROUP BY 1, 2
       ), earlier_keyed AS (
           SELECT client_id, user_login_state, p FROM earlier
           UNION ALL
           SELECT client_id, '(all)', max(p) FROM earlier GROUP BY 1
       ), prev AS (
           SELECT client_id, session_date, user_login_state,
                  lag(session_date) OVER (PARTITION BY client_id, user_login_state ORDER BY session_date) AS p
             FROM keyed
       )
       SELECT v.session_date, v.user_login_state,
              CASE WHEN v.p IS NULL OR v.p <= v.session_date - %(horizon)s THEN '-infinity'::date ELSE v.p END,
              count(*)
         FROM (SELECT p.session_date, p.user_login_state, coalesce(p.p, e.p) AS p
                 FROM prev p LEFT JOIN earlier_keyed e
                   ON p.p IS NULL AND e.client_id = p.client_id AND e.user_login_state = p.user_login_state) v
        GROUP BY 1, 2, 3""",
]


def refresh_client_returns(cur, first_dirty_day: dt.date) -> None:
    """Recompute ``dw.agg_daily_client_returns`` for every day from `first_dirty_day` on (within the caller's
    transaction; `cur` is a psycopg2 cursor). Days after the dirty ones are recomputed too: a client's new active
    day changes the previous day of its later days. Cost grows with the sessions from `first_dirty_day` on (the
    usual run touches today and maybe yesterday: one pass over those sessions plus one index probe per client)."""
    params = {"d0": first_dirty_day, "horizon": HORIZON_DAYS}
    for statement in REFRESH_CLIENT_RETURNS:
        cur.execute(statement, params)

-- Distinct visitors (clients) of any date range, exact, from a small table (issue 6: the overview's "users").
-- A distinct count cannot be summed from per-day distinct counts, and a per-day (day, client_id) table is as big
-- as dw.sessions (clients rarely come back within the same day). Instead, for every client active on a day, keep
-- the PREVIOUS day it was active: the clients active in [a, b] are exactly the (client, day) pairs with day in
-- [a, b] whose previous active day is before a (each client counts once: on its first day in the range). Counted
-- per (day, previous day) this is at most ~367 rows per day and login state, whatever the traffic:
--
--   SELECT sum(clients) FROM dw.agg_daily_client_returns
--    WHERE activity_date BETWEEN a AND b AND user_login_state = <state or '(all)'> AND previous_date < a
--
-- previous_date is '-infinity' when the client had no active day in the 366 days before (so the count is exact
-- for ranges of up to 366 days, the dashboards' maximum). "Active" means it started a session that day (UTC
-- session_date, as the overview's other session figures); with a login state, a session in that state.
-- user_login_state '(all)' rows count clients whatever their sessions' login state.
-- Maintained by clickstream_etl.extra_aggregates.refresh_client_returns (every day from the earliest dirty day
-- on is recomputed, since a new active day changes the previous day of the clients' later days).
CREATE TABLE dw.agg_daily_client_returns (
    activity_date     date NOT NULL,
    user_login_state  text NOT NULL,   -- 'logged_in', 'logged_out' or '(all)'
    previous_date     date NOT NULL,   -- '-infinity': not active in the 366 days before
    clients           bigint NOT NULL,
    PRIMARY KEY (user_login_state, activity_date, previous_date)
);

-- Backfill from the sessions already loaded (the ETL keeps it current from here on).
INSERT INTO dw.agg_daily_client_returns (activity_date, user_login_state, previous_date, clients)
WITH active AS (
    SELECT client_id, session_date, user_login_state FROM dw.sessions GROUP BY 1, 2, 3
    UNION ALL
    SELECT DISTINCT client_id, session_date, '(all)' FROM dw.sessions
), prev AS (
    SELECT session_date, user_login_state,
           lag(session_date) OVER (PARTITION BY client_id, user_login_state ORDER BY session_date) AS p
      FROM active
)
SELECT session_date, user_login_state,
       CASE WHEN p IS NULL OR p <= session_date - 366 THEN '-infinity'::date ELSE p END, count(*)
  FROM prev
 GROUP BY 1, 2, 3;


-- Journeys (issue 6, measured at 10M events): landing pages, page choices and next pages select one from_page
-- ('(entrance)' or the chosen page) over a date range; the primary key leads with the date and the login state,
-- so without this index they read every transition of the range (~70k rows a day) to keep ~1k. Covering, so the
-- dashboards read only the index.
CREATE INDEX agg_daily_page_transitions_from_idx ON dw.agg_daily_page_transitions (from_page, activity_date)
    INCLUDE (user_login_state, to_page, transitions);
-- Exit pages: the '(exit)' rows only (a few per cent of the table).
CREATE INDEX agg_daily_page_transitions_exit_idx ON dw.agg_daily_page_transitions (activity_date)
    INCLUDE (user_login_state, from_page, transitions) WHERE to_page = '(exit)';

-- Common paths start from the newest sessions of the period (ORDER BY session_start DESC LIMIT n): a backward
-- range scan instead of reading and sorting a whole day of sessions.
CREATE INDEX sessions_start_idx ON dw.sessions (session_start);

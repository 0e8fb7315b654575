-- Weekly retention cohorts (retention.py; sql/dw/0033): each client's rows of dw.agg_retention_members, from its
-- sessions, and what the incremental apply and the rebuild write. The clients are those of etl_ret_clients.

-- name: members  the one definition: each client's (cohort, active week, cohort week) rows, from all its sessions.
-- 'clients': cohort = the week of the session holding the client's first-visit event (dw.sessions.is_first_visit,
-- the ETL's first-visit rule), active = started a session that week. 'purchasers': cohort = the week of its first
-- converted session, active = a converted session (a purchase) that week. Weeks are ISO weeks (Monday) of the
-- session's UTC date.
DROP TABLE IF EXISTS etl_ret_now;

CREATE TEMP TABLE etl_ret_now ON COMMIT DROP AS
WITH w AS (
    SELECT s.client_id, date_trunc('week', s.session_date)::date AS wk,
           bool_or(s.is_first_visit) AS first_visit, bool_or(s.is_converted) AS purchased
      FROM etl_ret_clients c JOIN dw.sessions s ON s.client_id = c.client_id
     GROUP BY 1, 2
), k AS (
    SELECT client_id, min(wk) FILTER (WHERE first_visit) AS first_week,
           min(wk) FILTER (WHERE purchased) AS purchase_week
      FROM w GROUP BY 1
)
SELECT w.client_id, 'clients'::text AS cohort, w.wk AS active_week, k.first_week AS cohort_week
  FROM w JOIN k USING (client_id) WHERE w.wk >= k.first_week
UNION ALL
SELECT w.client_id, 'purchasers', w.wk, k.purchase_week
  FROM w JOIN k USING (client_id) WHERE w.purchased AND w.wk >= k.purchase_week;

-- name: pending  the clients of the incremental apply: those pending (etl.delta_clients)
DROP TABLE IF EXISTS etl_ret_clients;

CREATE TEMP TABLE etl_ret_clients ON COMMIT DROP AS SELECT client_id FROM etl.delta_clients;

-- their count, for the planner (the ETL's role cannot ANALYZE etl.delta_clients, whose statistics may be a past
-- run's): a few clients read their own sessions and members through the client indexes, not all of them
ANALYZE etl_ret_clients;

-- name: apply  the difference between the clients' rows now and as kept, added to the aggregate; then their rows
CREATE TEMP TABLE etl_ret_delta ON COMMIT DROP AS
SELECT cohort, cohort_week, active_week, sum(sign) AS clients
  FROM (SELECT 1 AS sign, cohort, cohort_week, active_week FROM etl_ret_now
        UNION ALL
        SELECT -1, m.cohort, m.cohort_week, m.active_week
          FROM etl_ret_clients c JOIN dw.agg_retention_members m ON m.client_id = c.client_id) x
 GROUP BY 1, 2, 3 HAVING sum(sign) <> 0;

INSERT INTO dw.agg_weekly_retention AS a (cohort, cohort_week, active_week, clients)
    SELECT cohort, cohort_week, active_week, clients FROM etl_ret_delta
    ON CONFLICT (cohort, cohort_week, active_week) DO UPDATE SET clients = a.clients + excluded.clients;

DELETE FROM dw.agg_weekly_retention a USING etl_ret_delta d
    WHERE (a.cohort, a.cohort_week, a.active_week) = (d.cohort, d.cohort_week, d.active_week) AND a.clients = 0;

DELETE FROM dw.agg_retention_members m USING etl_ret_clients c WHERE m.client_id = c.client_id;

INSERT INTO dw.agg_retention_members (client_id, cohort, active_week, cohort_week)
    SELECT client_id, cohort, active_week, cohort_week FROM etl_ret_now;

-- name: everyone  the clients of the rebuild: every client with a session
DROP TABLE IF EXISTS etl_ret_clients;

CREATE TEMP TABLE etl_ret_clients ON COMMIT DROP AS SELECT DISTINCT client_id FROM dw.sessions;

-- name: rebuild  both tables from scratch
DELETE FROM dw.agg_retention_members;

DELETE FROM dw.agg_weekly_retention;

INSERT INTO dw.agg_retention_members (client_id, cohort, active_week, cohort_week)
    SELECT client_id, cohort, active_week, cohort_week FROM etl_ret_now;

INSERT INTO dw.agg_weekly_retention (cohort, cohort_week, active_week, clients)
    SELECT cohort, cohort_week, active_week, count(*) FROM etl_ret_now GROUP BY 1, 2, 3;

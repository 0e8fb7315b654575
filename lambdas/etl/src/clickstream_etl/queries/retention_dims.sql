-- Retention cohorts by channel, device and segment (retention_dims.py; sql/dw/0048): each client's rows of
-- dw.agg_retention_dims_members, and what the incremental apply and the rebuild write. The clients are those of
-- etl_rd_clients; it runs after the journeys' step (journeys.py), whose dw.session_journeys holds each session's
-- dimensions.

-- name: members  the one definition: each client's rows of dw.agg_retention_members (queries/retention.sql: the
-- cohorts' rule), with the dimensions of the cohort's session: for 'clients' the session holding its first visit,
-- for 'purchasers' its first converted session (the earliest, by start).
DROP TABLE IF EXISTS etl_rd_now;

CREATE TEMP TABLE etl_rd_now ON COMMIT DROP AS
WITH s AS (
    SELECT s.client_id, s.session_id, s.session_start, date_trunc('week', s.session_date)::date AS wk,
           s.is_first_visit, s.is_converted
      FROM etl_rd_clients c
     -- per client through (client_id, session_start) (LATERAL, OFFSET 0), whatever the statistics of dw.sessions
     CROSS JOIN LATERAL (SELECT * FROM dw.sessions y WHERE y.client_id = c.client_id OFFSET 0) s
), w AS (
    SELECT client_id, wk, bool_or(is_first_visit) AS first_visit, bool_or(is_converted) AS purchased
      FROM s GROUP BY 1, 2
), k AS (
    SELECT client_id, min(wk) FILTER (WHERE is_first_visit) AS first_week,
           min(wk) FILTER (WHERE is_converted) AS purchase_week,
           (array_agg(session_id ORDER BY session_start, session_id) FILTER (WHERE is_first_visit))[1] AS first_session,
           (array_agg(session_id ORDER BY session_start, session_id) FILTER (WHERE is_converted))[1] AS purchase_session
      FROM s GROUP BY 1
)
SELECT w.client_id, 'clients'::text AS cohort, w.wk AS active_week, k.first_week AS cohort_week, j.channel_group,
       j.device_category, j.segment
  FROM w JOIN k USING (client_id)
 CROSS JOIN LATERAL (SELECT * FROM dw.session_journeys y WHERE y.session_id = k.first_session OFFSET 0) j
 WHERE w.wk >= k.first_week
UNION ALL
SELECT w.client_id, 'purchasers', w.wk, k.purchase_week, j.channel_group, j.device_category, j.segment
  FROM w JOIN k USING (client_id)
 CROSS JOIN LATERAL (SELECT * FROM dw.session_journeys y WHERE y.session_id = k.purchase_session OFFSET 0) j
 WHERE w.purchased AND w.wk >= k.purchase_week;

-- name: pending  the clients of the incremental apply: those pending (etl.delta_clients)
DROP TABLE IF EXISTS etl_rd_clients;

CREATE TEMP TABLE etl_rd_clients ON COMMIT DROP AS SELECT client_id FROM etl.delta_clients;

-- their count, for the planner (the ETL's role cannot ANALYZE etl.delta_clients, whose statistics may be a past
-- run's): a few clients read their own members through the primary key, not all of them
ANALYZE etl_rd_clients;

-- name: apply  the difference between the clients' rows now and as kept, added to the aggregate; then their rows
DROP TABLE IF EXISTS etl_rd_delta;

CREATE TEMP TABLE etl_rd_delta ON COMMIT DROP AS
SELECT cohort, cohort_week, active_week, channel_group, device_category, segment, sum(sign) AS clients
  FROM (SELECT 1 AS sign, cohort, cohort_week, active_week, channel_group, device_category, segment FROM etl_rd_now
        UNION ALL
        SELECT -1, m.cohort, m.cohort_week, m.active_week, m.channel_group, m.device_category, m.segment
          FROM etl_rd_clients c JOIN dw.agg_retention_dims_members m ON m.client_id = c.client_id) x
 GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0;

INSERT INTO dw.agg_weekly_retention_dims AS a
    SELECT * FROM etl_rd_delta
    ON CONFLICT (cohort, cohort_week, active_week, channel_group, device_category, segment)
    DO UPDATE SET clients = a.clients + excluded.clients;

DELETE FROM dw.agg_weekly_retention_dims a USING etl_rd_delta d
    WHERE (a.cohort, a.cohort_week, a.active_week, a.channel_group, a.device_category, a.segment)
        = (d.cohort, d.cohort_week, d.active_week, d.channel_group, d.device_category, d.segment)
      AND a.clients = 0;

DELETE FROM dw.agg_retention_dims_members m USING etl_rd_clients c WHERE m.client_id = c.client_id;

INSERT INTO dw.agg_retention_dims_members
    SELECT client_id, cohort, active_week, cohort_week, channel_group, device_category, segment FROM etl_rd_now;

-- name: everyone  the clients of the rebuild: every client with a session
DROP TABLE IF EXISTS etl_rd_clients;

CREATE TEMP TABLE etl_rd_clients ON COMMIT DROP AS SELECT DISTINCT client_id FROM dw.sessions;

ANALYZE etl_rd_clients;

-- name: rebuild  both tables from scratch
DELETE FROM dw.agg_retention_dims_members;

DELETE FROM dw.agg_weekly_retention_dims;

INSERT INTO dw.agg_retention_dims_members
    SELECT client_id, cohort, active_week, cohort_week, channel_group, device_category, segment FROM etl_rd_now;

INSERT INTO dw.agg_weekly_retention_dims
    SELECT cohort, cohort_week, active_week, channel_group, device_category, segment, count(*)
      FROM etl_rd_now GROUP BY 1, 2, 3, 4, 5, 6;

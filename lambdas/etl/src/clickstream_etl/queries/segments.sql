-- Client segments (segments.py; sql/dw/0034) as of the end of the UTC day %(as_of)s, from every client's sessions
-- that started by then. The thresholds are parameters (segments.Thresholds). The first matching segment wins:
--   new      the client's first visit (the session holding its first-visit event) is less than new_days old;
--   lost     its latest session started lost_days or more before as_of;
--   at_risk  its latest session started at_risk_days or more before as_of;
--   loyal    in the window of window_days days up to as_of: sessions on at least loyal_min_active_days days, or at
--            least loyal_min_purchases purchases;
--   active   any other client (seen within at_risk_days).
-- The rule's SQL is rules.segment_sql ({segment}), shared with the per-session segment of queries/dims.sql.

-- name: compute
DELETE FROM dw.client_segments;

INSERT INTO dw.client_segments (client_id, as_of, segment, first_visit_date, last_active_date, active_days,
                                purchases, revenue)
WITH c AS (
    SELECT client_id,
           min(session_date) FILTER (WHERE is_first_visit) AS first_visit_date,
           max(session_date) AS last_active_date,
           count(DISTINCT session_date) FILTER (WHERE session_date > %(as_of)s::date - %(window_days)s) AS active_days,
           coalesce(sum(purchase_count) FILTER (WHERE session_date > %(as_of)s::date - %(window_days)s), 0)
             AS purchases,
           coalesce(sum(revenue) FILTER (WHERE session_date > %(as_of)s::date - %(window_days)s), 0) AS revenue
      FROM dw.sessions
     WHERE session_date <= %(as_of)s::date
     GROUP BY client_id
)
SELECT client_id, %(as_of)s::date,
       {segment},
       first_visit_date, last_active_date, active_days, purchases, revenue
  FROM c;

DELETE FROM dw.agg_daily_segments WHERE as_of = %(as_of)s::date;

INSERT INTO dw.agg_daily_segments (as_of, segment, clients, purchasers, revenue)
    SELECT as_of, segment, count(*), count(*) FILTER (WHERE purchases > 0), sum(revenue)
      FROM dw.client_segments GROUP BY 1, 2;

INSERT INTO etl.segment_days (as_of, clients, thresholds, data_through)
    SELECT %(as_of)s::date, count(*), %(thresholds)s::jsonb, (SELECT max(session_start) FROM dw.sessions)
      FROM dw.client_segments
    ON CONFLICT (as_of) DO UPDATE SET computed_at = now(), clients = excluded.clients,
                                      thresholds = excluded.thresholds, data_through = excluded.data_through;

-- the thresholds of the per-session segment (queries/dims.sql; sql/dw/0041)
INSERT INTO etl.segment_rule AS r (id, new_days, at_risk_days, lost_days, window_days, loyal_min_active_days,
                                   loyal_min_purchases)
    VALUES (true, %(new_days)s, %(at_risk_days)s, %(lost_days)s, %(window_days)s, %(loyal_min_active_days)s,
            %(loyal_min_purchases)s)
    ON CONFLICT (id) DO UPDATE SET new_days = excluded.new_days, at_risk_days = excluded.at_risk_days,
        lost_days = excluded.lost_days, window_days = excluded.window_days,
        loyal_min_active_days = excluded.loyal_min_active_days, loyal_min_purchases = excluded.loyal_min_purchases;

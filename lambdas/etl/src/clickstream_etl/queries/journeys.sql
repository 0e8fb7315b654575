-- Journeys by channel, device and segment (journeys.py; sql/dw/0048): the rows of dw.session_journeys of the
-- sessions of etl_jr_clients(client_id, since) that start at or after `since`, and what the incremental apply and
-- the rebuild write. The business rules ({placeholders}) come from clickstream_etl/rules.py.

-- name: rows  the one definition: each session's dimensions and its page views' pages in order (etl_jr_now)
DROP TABLE IF EXISTS etl_jr_now;

CREATE TEMP TABLE etl_jr_now ON COMMIT DROP AS
WITH sess AS (
    SELECT s.session_id, s.client_id, s.session_start, s.session_date, s.user_login_state,
           coalesce(s.channel_group, {unassigned}) AS channel_group,
           coalesce(s.device_category, '(unknown)') AS device_category
      FROM etl_jr_clients c
     -- per client through (client_id, session_start) (LATERAL, OFFSET 0), whatever the statistics of dw.sessions
     CROSS JOIN LATERAL (SELECT * FROM dw.sessions y
                          WHERE y.client_id = c.client_id AND y.session_start >= c.since OFFSET 0) s
), days AS (
    SELECT DISTINCT client_id, session_date FROM sess
), seg AS (  -- the client's segment as of the end of the day before the session's day (rules.py, one definition)
    SELECT d.client_id, d.session_date, {segment_of_session_day} AS segment
      FROM days d
     CROSS JOIN etl.segment_rule r
     CROSS JOIN LATERAL ({segment_history_before_day}) h
), pv AS (  -- the page views of the clients from `since` on, per session, in the transitions' order
    SELECT e.session_id,
           array_agg({page_key_e} ORDER BY e.event_timestamp, e.event_id) AS pages,
           array_agg((e.event_timestamp AT TIME ZONE 'UTC')::date ORDER BY e.event_timestamp, e.event_id)
             AS page_dates
      FROM etl_jr_clients c
     -- per client through (client_id, event_timestamp), as the sessions: a few clients never scan dw.events
     CROSS JOIN LATERAL (SELECT * FROM dw.events x
                          WHERE x.client_id = c.client_id AND x.event_timestamp >= c.since OFFSET 0) e
     WHERE {page_view_e} AND e.page_url_path IS NOT NULL
     GROUP BY e.session_id
)
SELECT s.session_id, s.client_id, s.session_start, s.session_date, s.user_login_state, s.channel_group,
       s.device_category, g.segment, coalesce(pv.pages, '{{}}') AS pages,
       coalesce(pv.page_dates, '{{}}') AS page_dates,
       ARRAY(SELECT dw.journey_path_id(pv.pages[1:k])
               FROM generate_series(1, least(coalesce(cardinality(pv.pages), 0), 5)) AS k ORDER BY k) AS path_ids
  FROM sess s
  JOIN seg g USING (client_id, session_date)
  LEFT JOIN pv USING (session_id);

-- the pages of the rows' paths
INSERT INTO dw.journey_paths (path_id, pages)
    SELECT DISTINCT p.path_ids[k], p.pages[1:k]
      FROM etl_jr_now p CROSS JOIN LATERAL generate_subscripts(p.path_ids, 1) AS k
    ON CONFLICT (path_id) DO NOTHING;

-- name: pending  the clients of the incremental apply: those pending (etl.delta_clients), from the start of the day
-- of their window start (nothing of theirs before it changed, and the segment of a session of that day depends only
-- on the days before it)
DROP TABLE IF EXISTS etl_jr_clients;

CREATE TEMP TABLE etl_jr_clients ON COMMIT DROP AS
    SELECT client_id, date_trunc('day', win_start) AS since FROM etl.delta_clients;

-- their count, for the planner: the statistics of etl.delta_clients may be a past run's (the ETL's role does not
-- own it and cannot ANALYZE it; it owns this temp table), and a few clients read their rows through the client
-- indexes
ANALYZE etl_jr_clients;

-- name: apply  the transitions of the clients' rows now minus those of their rows as kept, added to the aggregate;
-- then their rows
DROP TABLE IF EXISTS etl_jr_delta;

CREATE TEMP TABLE etl_jr_delta ON COMMIT DROP AS
SELECT t.activity_date, r.user_login_state, r.channel_group, r.device_category, r.segment, t.from_page, t.to_page,
       sum(r.sign) AS transitions
  FROM (SELECT 1 AS sign, user_login_state, channel_group, device_category, segment, pages, page_dates
          FROM etl_jr_now
        UNION ALL
        SELECT -1, j.user_login_state, j.channel_group, j.device_category, j.segment, j.pages, j.page_dates
          FROM etl_jr_clients c
          JOIN dw.session_journeys j ON j.client_id = c.client_id AND j.session_start >= c.since) r
 CROSS JOIN LATERAL dw.journey_transitions(r.pages, r.page_dates) t
 GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum(r.sign) <> 0;

INSERT INTO dw.agg_daily_transitions_dims AS a
    SELECT * FROM etl_jr_delta
    ON CONFLICT (activity_date, user_login_state, channel_group, device_category, segment, from_page, to_page)
    DO UPDATE SET transitions = a.transitions + excluded.transitions;

DELETE FROM dw.agg_daily_transitions_dims a USING etl_jr_delta d
    WHERE (a.activity_date, a.user_login_state, a.channel_group, a.device_category, a.segment, a.from_page,
           a.to_page)
        = (d.activity_date, d.user_login_state, d.channel_group, d.device_category, d.segment, d.from_page,
           d.to_page)
      AND a.transitions = 0;

DELETE FROM dw.session_journeys j USING etl_jr_clients c
    WHERE j.client_id = c.client_id AND j.session_start >= c.since;

INSERT INTO dw.session_journeys SELECT * FROM etl_jr_now;

-- name: everyone  the sessions of the rebuild: every client's from its first session that ends on or after the
-- first dirty day %(d0)s (a session that runs into that day holds page views of it)
DROP TABLE IF EXISTS etl_jr_clients;

CREATE TEMP TABLE etl_jr_clients ON COMMIT DROP AS
    SELECT client_id, min(session_start) AS since FROM dw.sessions
     WHERE session_end >= %(d0)s::date::timestamp AT TIME ZONE 'UTC'
     GROUP BY client_id;

ANALYZE etl_jr_clients;

-- name: rebuild  the sessions' rows from scratch, then the whole aggregate from every row (the paths' pages stay: an
-- id's pages never change)
DELETE FROM dw.session_journeys WHERE session_start >= %(d0)s::date::timestamp AT TIME ZONE 'UTC';

DELETE FROM dw.session_journeys j USING etl_jr_clients c
    WHERE j.client_id = c.client_id AND j.session_start >= c.since;

INSERT INTO dw.session_journeys SELECT * FROM etl_jr_now;

DELETE FROM dw.agg_daily_transitions_dims;

INSERT INTO dw.agg_daily_transitions_dims
    SELECT t.activity_date, j.user_login_state, j.channel_group, j.device_category, j.segment, t.from_page,
           t.to_page, count(*)
      FROM dw.session_journeys j
     CROSS JOIN LATERAL dw.journey_transitions(j.pages, j.page_dates) t
     GROUP BY 1, 2, 3, 4, 5, 6, 7;

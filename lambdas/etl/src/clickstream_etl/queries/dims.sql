-- Channel, device and segment filters (dims.py; sql/dw/0041): each client's rows of dw.agg_hourly_dims from the
-- day d0 on (etl_dims_clients(client_id, d0)), and what the incremental apply and the rebuild write. The business
-- rules ({placeholders}) come from clickstream_etl/rules.py.

-- name: members  the one definition: the clients' sessions with their segment (etl_dims_sd, which
-- queries/acquisition_dims.sql reads too) and rows (etl_dims_now) from their events and sessions from d0 on
DROP TABLE IF EXISTS etl_dims_ev;

-- the clients' events from d0 on, read once (per client through (client_id, event_timestamp): LATERAL, OFFSET 0,
-- so a few clients never scan dw.events)
CREATE TEMP TABLE etl_dims_ev ON COMMIT DROP AS
SELECT e.client_id, e.session_id, e.event_timestamp, e.event_name
  FROM etl_dims_clients c
 CROSS JOIN LATERAL (SELECT x.client_id, x.session_id, x.event_timestamp, x.event_name FROM dw.events x
                      WHERE x.client_id = c.client_id AND x.event_timestamp >= c.d0::timestamp AT TIME ZONE 'UTC'
                     OFFSET 0) e;

ANALYZE etl_dims_ev;

DROP TABLE IF EXISTS etl_dims_sd;

CREATE TEMP TABLE etl_dims_sd ON COMMIT DROP AS
WITH sess AS (
    SELECT s.session_id, s.client_id, s.session_start, s.session_date, s.user_login_state, s.is_converted, s.revenue,
           s.is_engaged, s.is_first_visit, coalesce(s.channel_group, {unassigned}) AS channel_group,
           coalesce(s.source, {not_set}) AS source, coalesce(s.medium, {not_set}) AS medium,
           coalesce(s.campaign, {not_set}) AS campaign, coalesce(s.device_category, '(unknown)') AS device_category
      FROM (SELECT DISTINCT session_id FROM etl_dims_ev) x
     -- per session through the sessions' primary key (LATERAL, OFFSET 0), as the events
     CROSS JOIN LATERAL (SELECT * FROM dw.sessions y WHERE y.session_id = x.session_id OFFSET 0) s
), days AS (
    SELECT DISTINCT client_id, session_date FROM sess
), seg AS (  -- the client's segment as of the end of the day before the session's day, from its earlier sessions
    SELECT d.client_id, d.session_date, {segment_of_session_day} AS segment
      FROM days d
     CROSS JOIN etl.segment_rule r
     CROSS JOIN LATERAL ({segment_history_before_day}) h
)
SELECT s.*, g.segment FROM sess s JOIN seg g USING (client_id, session_date);

ANALYZE etl_dims_sd;

DROP TABLE IF EXISTS etl_dims_now;

CREATE TEMP TABLE etl_dims_now ON COMMIT DROP AS
WITH ev AS (
    SELECT * FROM etl_dims_ev
), sd AS (
    SELECT * FROM etl_dims_sd
), facts AS (
    -- events and page views, in the hour of the event
    SELECT ev.client_id, date_trunc('hour', ev.event_timestamp) AS h, sd.user_login_state, sd.channel_group,
           sd.device_category, sd.segment, count(*) AS events, count(*) FILTER (WHERE {page_view}) AS page_views,
           0 AS sessions, 0 AS converted_sessions, 0::numeric AS revenue, 0 AS view_item_sessions,
           0 AS add_to_cart_sessions, 0 AS begin_checkout_sessions, 0 AS purchase_sessions
      FROM ev JOIN sd USING (session_id)
     GROUP BY 1, 2, 3, 4, 5, 6
    UNION ALL
    -- sessions, in the hour of their start (those that start from d0 on)
    SELECT sd.client_id, date_trunc('hour', sd.session_start), sd.user_login_state, sd.channel_group,
           sd.device_category, sd.segment, 0, 0, count(*), count(*) FILTER (WHERE sd.is_converted), sum(sd.revenue),
           0, 0, 0, 0
      FROM sd JOIN etl_dims_clients c ON c.client_id = sd.client_id
     WHERE sd.session_start >= c.d0::timestamp AT TIME ZONE 'UTC'
     GROUP BY 1, 2, 3, 4, 5, 6
    UNION ALL
    -- funnel steps: a session in the hour of its first event of the step on each UTC day
    SELECT sd.client_id, date_trunc('hour', st.first_ts), sd.user_login_state, sd.channel_group, sd.device_category,
           sd.segment, 0, 0, 0, 0, 0,
           count(*) FILTER (WHERE st.event_name = 'view_item'), count(*) FILTER (WHERE st.event_name = 'add_to_cart'),
           count(*) FILTER (WHERE st.event_name = 'begin_checkout'),
           count(*) FILTER (WHERE st.event_name = {purchase})
      FROM (SELECT session_id, event_name, min(event_timestamp) AS first_ts FROM ev
             WHERE event_name IN ('view_item', 'add_to_cart', 'begin_checkout', {purchase})
             GROUP BY session_id, event_name, (event_timestamp AT TIME ZONE 'UTC')::date) st
      JOIN sd USING (session_id)
     GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT client_id, h AS activity_hour, user_login_state, channel_group, device_category, segment,
       sum(events) AS events, sum(page_views) AS page_views, sum(sessions) AS sessions,
       sum(converted_sessions) AS converted_sessions, sum(revenue) AS revenue,
       sum(view_item_sessions) AS view_item_sessions, sum(add_to_cart_sessions) AS add_to_cart_sessions,
       sum(begin_checkout_sessions) AS begin_checkout_sessions, sum(purchase_sessions) AS purchase_sessions
  FROM facts
 GROUP BY 1, 2, 3, 4, 5, 6;

-- name: pending  the clients of the incremental apply: those pending (etl.delta_clients), from the day of their
-- window start (nothing of theirs before it changed: docs/warehouse.md, "Channel, device and segment filters")
DROP TABLE IF EXISTS etl_dims_clients;

CREATE TEMP TABLE etl_dims_clients ON COMMIT DROP AS
    SELECT client_id, (win_start AT TIME ZONE 'UTC')::date AS d0 FROM etl.delta_clients;

-- their count, for the planner: a few clients read their own members through the primary key, not all of them
ANALYZE etl_dims_clients;

-- name: apply  the difference between the clients' rows now and as kept, added to the aggregate; then their rows
DROP TABLE IF EXISTS etl_dims_delta;

CREATE TEMP TABLE etl_dims_delta ON COMMIT DROP AS
SELECT activity_hour, user_login_state, channel_group, device_category, segment, sum(events) AS events,
       sum(page_views) AS page_views, sum(sessions) AS sessions, sum(converted_sessions) AS converted_sessions,
       sum(revenue) AS revenue, sum(view_item_sessions) AS view_item_sessions,
       sum(add_to_cart_sessions) AS add_to_cart_sessions, sum(begin_checkout_sessions) AS begin_checkout_sessions,
       sum(purchase_sessions) AS purchase_sessions
  FROM (SELECT activity_hour, user_login_state, channel_group, device_category, segment, events, page_views,
               sessions, converted_sessions, revenue, view_item_sessions, add_to_cart_sessions,
               begin_checkout_sessions, purchase_sessions
          FROM etl_dims_now
        UNION ALL
        SELECT m.activity_hour, m.user_login_state, m.channel_group, m.device_category, m.segment, -m.events,
               -m.page_views, -m.sessions, -m.converted_sessions, -m.revenue, -m.view_item_sessions,
               -m.add_to_cart_sessions, -m.begin_checkout_sessions, -m.purchase_sessions
          FROM etl_dims_clients c
          JOIN dw.agg_dims_members m ON m.client_id = c.client_id
                                    AND m.activity_hour >= c.d0::timestamp AT TIME ZONE 'UTC') x
 GROUP BY 1, 2, 3, 4, 5;

INSERT INTO dw.agg_hourly_dims AS a
    SELECT activity_hour, (activity_hour AT TIME ZONE 'UTC')::date, user_login_state, channel_group,
           device_category, segment, events, page_views, sessions, converted_sessions, revenue, view_item_sessions,
           add_to_cart_sessions, begin_checkout_sessions, purchase_sessions
      FROM etl_dims_delta
     WHERE events <> 0 OR page_views <> 0 OR sessions <> 0 OR converted_sessions <> 0 OR revenue <> 0
        OR view_item_sessions <> 0 OR add_to_cart_sessions <> 0 OR begin_checkout_sessions <> 0
        OR purchase_sessions <> 0
    ON CONFLICT (activity_hour, user_login_state, channel_group, device_category, segment) DO UPDATE SET
      events = a.events + excluded.events, page_views = a.page_views + excluded.page_views,
      sessions = a.sessions + excluded.sessions, converted_sessions = a.converted_sessions + excluded.converted_sessions,
      revenue = a.revenue + excluded.revenue, view_item_sessions = a.view_item_sessions + excluded.view_item_sessions,
      add_to_cart_sessions = a.add_to_cart_sessions + excluded.add_to_cart_sessions,
      begin_checkout_sessions = a.begin_checkout_sessions + excluded.begin_checkout_sessions,
      purchase_sessions = a.purchase_sessions + excluded.purchase_sessions;

-- a row without events has nothing else (every session, step and revenue comes with an event of the hour)
DELETE FROM dw.agg_hourly_dims a USING etl_dims_delta d
    WHERE (a.activity_hour, a.user_login_state, a.channel_group, a.device_category, a.segment)
        = (d.activity_hour, d.user_login_state, d.channel_group, d.device_category, d.segment) AND a.events = 0;

DELETE FROM dw.agg_dims_members m USING etl_dims_clients c
    WHERE m.client_id = c.client_id AND m.activity_hour >= c.d0::timestamp AT TIME ZONE 'UTC';

INSERT INTO dw.agg_dims_members SELECT * FROM etl_dims_now;

-- name: everyone  the clients of the rebuild: every client with an event from the first dirty day %(d0)s on
DROP TABLE IF EXISTS etl_dims_clients;

CREATE TEMP TABLE etl_dims_clients ON COMMIT DROP AS
    SELECT DISTINCT client_id, %(d0)s::date AS d0 FROM dw.events
     WHERE event_timestamp >= %(d0)s::date::timestamp AT TIME ZONE 'UTC';

-- name: rebuild  both tables from %(d0)s on, from scratch
DELETE FROM dw.agg_dims_members WHERE activity_hour >= %(d0)s::date::timestamp AT TIME ZONE 'UTC';

DELETE FROM dw.agg_hourly_dims WHERE activity_hour >= %(d0)s::date::timestamp AT TIME ZONE 'UTC';

INSERT INTO dw.agg_dims_members SELECT * FROM etl_dims_now;

INSERT INTO dw.agg_hourly_dims
    SELECT activity_hour, (activity_hour AT TIME ZONE 'UTC')::date, user_login_state, channel_group,
           device_category, segment, sum(events), sum(page_views), sum(sessions), sum(converted_sessions),
           sum(revenue), sum(view_item_sessions), sum(add_to_cart_sessions), sum(begin_checkout_sessions),
           sum(purchase_sessions)
      FROM etl_dims_now
     GROUP BY 1, 2, 3, 4, 5, 6;

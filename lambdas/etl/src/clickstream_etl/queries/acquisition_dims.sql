-- The Acquisition dashboard under the device and segment filters (acquisition_dims.py; sql/dw/0046): each client's
-- rows of dw.agg_daily_acquisition_dims from the day d0 on, from the sessions with their segment that the dims step
-- has just made (etl_dims_sd, etl_dims_clients: queries/dims.sql, 'members', which runs first), and what the
-- incremental apply and the rebuild write.

-- name: members  the one definition: the clients' rows (etl_acqd_now) from their sessions that start from d0 on
DROP TABLE IF EXISTS etl_acqd_now;

CREATE TEMP TABLE etl_acqd_now ON COMMIT DROP AS
SELECT sd.client_id, sd.session_date AS activity_date, sd.user_login_state, sd.channel_group, sd.source, sd.medium,
       sd.campaign, sd.device_category, sd.segment, count(*) AS sessions,
       count(*) FILTER (WHERE sd.is_engaged) AS engaged_sessions,
       count(*) FILTER (WHERE sd.is_converted) AS converted_sessions,
       count(*) FILTER (WHERE sd.is_first_visit) AS first_visit_sessions, sum(sd.revenue) AS revenue
  FROM etl_dims_sd sd JOIN etl_dims_clients c ON c.client_id = sd.client_id
 WHERE sd.session_date >= c.d0
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

-- name: apply  the difference between the clients' rows now and as kept, added to the aggregate; then their rows
DROP TABLE IF EXISTS etl_acqd_delta;

CREATE TEMP TABLE etl_acqd_delta ON COMMIT DROP AS
SELECT activity_date, user_login_state, channel_group, source, medium, campaign, device_category, segment, sum(sessions) AS sessions, sum(engaged_sessions) AS engaged_sessions,
       sum(converted_sessions) AS converted_sessions, sum(first_visit_sessions) AS first_visit_sessions,
       sum(revenue) AS revenue
  FROM (SELECT activity_date, user_login_state, channel_group, source, medium, campaign, device_category, segment, sessions, engaged_sessions, converted_sessions, first_visit_sessions, revenue
          FROM etl_acqd_now
        UNION ALL
        SELECT m.activity_date, m.user_login_state, m.channel_group, m.source, m.medium, m.campaign,
               m.device_category, m.segment, -m.sessions, -m.engaged_sessions, -m.converted_sessions,
               -m.first_visit_sessions, -m.revenue
          FROM etl_dims_clients c
          JOIN dw.agg_acquisition_dims_members m ON m.client_id = c.client_id AND m.activity_date >= c.d0) x
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
HAVING sum(sessions) <> 0 OR sum(engaged_sessions) <> 0 OR sum(converted_sessions) <> 0
    OR sum(first_visit_sessions) <> 0 OR sum(revenue) <> 0;

INSERT INTO dw.agg_daily_acquisition_dims AS a
    SELECT * FROM etl_acqd_delta
    ON CONFLICT (activity_date, user_login_state, channel_group, source, medium, campaign, device_category, segment) DO UPDATE SET
      sessions = a.sessions + excluded.sessions, engaged_sessions = a.engaged_sessions + excluded.engaged_sessions,
      converted_sessions = a.converted_sessions + excluded.converted_sessions,
      first_visit_sessions = a.first_visit_sessions + excluded.first_visit_sessions,
      revenue = a.revenue + excluded.revenue;

-- a row without sessions has nothing else (every measure comes with a session)
DELETE FROM dw.agg_daily_acquisition_dims a USING etl_acqd_delta d
    WHERE (a.activity_date, a.user_login_state, a.channel_group, a.source, a.medium, a.campaign, a.device_category,
           a.segment)
        = (d.activity_date, d.user_login_state, d.channel_group, d.source, d.medium, d.campaign, d.device_category,
           d.segment) AND a.sessions = 0;

DELETE FROM dw.agg_acquisition_dims_members m USING etl_dims_clients c
    WHERE m.client_id = c.client_id AND m.activity_date >= c.d0;

INSERT INTO dw.agg_acquisition_dims_members SELECT * FROM etl_acqd_now;

-- name: rebuild  both tables from %(d0)s on, from scratch (etl_dims_clients: every client, queries/dims.sql)
DELETE FROM dw.agg_acquisition_dims_members WHERE activity_date >= %(d0)s;

DELETE FROM dw.agg_daily_acquisition_dims WHERE activity_date >= %(d0)s;

INSERT INTO dw.agg_acquisition_dims_members SELECT * FROM etl_acqd_now;

INSERT INTO dw.agg_daily_acquisition_dims
    SELECT activity_date, user_login_state, channel_group, source, medium, campaign, device_category, segment, sum(sessions), sum(engaged_sessions), sum(converted_sessions), sum(first_visit_sessions),
           sum(revenue)
      FROM etl_acqd_now
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- name: users_days  the distinct users under the filters (dw.agg_daily_users_dims, sql/dw/0047): the keys of each
-- active day of the clients of etl_dims_clients, as dw.agg_acquisition_dims_members holds them now, in each of the
-- 16 combinations with '(all)'; each day with its previous active day under the same keys ('-infinity': none); the
-- days from d0 on, with the sign __SIGN__ (acquisition_dims.py puts it in). Run before the members are replaced (-1) and after (+1).
CREATE TEMP TABLE IF NOT EXISTS etl_usrd (sign smallint NOT NULL, user_login_state text NOT NULL,
    channel_group text NOT NULL, device_category text NOT NULL, segment text NOT NULL, activity_date date NOT NULL,
    previous_date date NOT NULL) ON COMMIT DROP;

INSERT INTO etl_usrd
WITH k AS (
    SELECT DISTINCT m.client_id, c.d0, m.activity_date, x.l, x.ch, x.dv, x.sg
      FROM etl_dims_clients c
      JOIN dw.agg_acquisition_dims_members m
        ON m.client_id = c.client_id
     CROSS JOIN LATERAL (
         SELECT CASE WHEN b & 1 = 0 THEN m.user_login_state ELSE '(all)' END AS l,
                CASE WHEN b & 2 = 0 THEN m.channel_group ELSE '(all)' END AS ch,
                CASE WHEN b & 4 = 0 THEN m.device_category ELSE '(all)' END AS dv,
                CASE WHEN b & 8 = 0 THEN m.segment ELSE '(all)' END AS sg
           FROM generate_series(0, 15) b) x
), p AS (
    SELECT *, lag(activity_date) OVER (PARTITION BY client_id, l, ch, dv, sg ORDER BY activity_date) AS prev FROM k
)
SELECT __SIGN__, l, ch, dv, sg, activity_date, coalesce(prev, '-infinity'::date) FROM p WHERE activity_date >= d0;

-- name: users_apply  the difference added to dw.agg_daily_users_dims; rows reaching 0 deleted
INSERT INTO dw.agg_daily_users_dims AS a
    SELECT user_login_state, channel_group, device_category, segment, activity_date, previous_date, sum(sign)
      FROM etl_usrd GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0
    ON CONFLICT (user_login_state, channel_group, device_category, segment, activity_date, previous_date)
    DO UPDATE SET clients = a.clients + excluded.clients;

DELETE FROM dw.agg_daily_users_dims a
 USING (SELECT DISTINCT user_login_state, channel_group, device_category, segment, activity_date FROM etl_usrd) k
 WHERE (a.user_login_state, a.channel_group, a.device_category, a.segment, a.activity_date)
     = (k.user_login_state, k.channel_group, k.device_category, k.segment, k.activity_date) AND a.clients = 0;

-- name: users_rebuild  dw.agg_daily_users_dims from %(d0)s on, from scratch (after the members' rebuild)
DELETE FROM dw.agg_daily_users_dims WHERE activity_date >= %(d0)s;

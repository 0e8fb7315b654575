-- Attribution under the device and segment filters (attribution_dims.py; sql/dw/0054): each credit of a purchase
-- (dw.agg_attribution_members' rows: queries/attribution.sql, 'members') with its touch session's device category
-- and segment, and what the incremental apply and the rebuild write. The credits are those of etl_attd_credits
-- (client_id, purchase_at, model, session_id, channel_group, source, medium, campaign, purchases, revenue), which
-- the 'pending' and 'everyone' blocks make. The business rules ({placeholders}) come from clickstream_etl/rules.py.

-- name: members  the one definition: the credits of etl_attd_credits under device and segment (etl_attd_now).
-- A credit's device is its touch session's (dw.sessions; '(unknown)' without one), its segment the touch session's
-- client's as of the end of the day before the session's day (rules.SQL's segment_of_session_day over
-- segment_history_before_day: the rule of queries/dims.sql); its day is the purchase's (UTC), as in
-- dw.agg_daily_attribution.
DROP TABLE IF EXISTS etl_attd_sessions;

-- the touch sessions, each read once through the sessions' primary key (LATERAL, OFFSET 0)
CREATE TEMP TABLE etl_attd_sessions ON COMMIT DROP AS
SELECT s.session_id, s.client_id, s.session_date, s.device_category
  FROM (SELECT DISTINCT session_id FROM etl_attd_credits) x
 CROSS JOIN LATERAL (SELECT y.session_id, y.client_id, y.session_date,
                            coalesce(y.device_category, '(unknown)') AS device_category
                       FROM dw.sessions y WHERE y.session_id = x.session_id OFFSET 0) s;

ANALYZE etl_attd_sessions;

DROP TABLE IF EXISTS etl_attd_now;

CREATE TEMP TABLE etl_attd_now ON COMMIT DROP AS
WITH days AS (
    SELECT DISTINCT client_id, session_date FROM etl_attd_sessions
), seg AS (  -- the client's segment as of the end of the day before the session's day, from its earlier sessions
    SELECT d.client_id, d.session_date, {segment_of_session_day} AS segment
      FROM days d
     CROSS JOIN etl.segment_rule r
     CROSS JOIN LATERAL ({segment_history_before_day}) h
)
SELECT m.client_id, m.purchase_at, m.model, m.channel_group, m.source, m.medium, m.campaign, s.device_category,
       g.segment, (m.purchase_at AT TIME ZONE 'UTC')::date AS activity_date, sum(m.purchases) AS purchases,
       sum(m.revenue) AS revenue
  FROM etl_attd_credits m
  JOIN etl_attd_sessions s USING (session_id)
  JOIN seg g ON g.client_id = s.client_id AND g.session_date = s.session_date
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

-- name: pending  the credits of the incremental apply: those of the pending clients' purchases from their window
-- start on, as the attribution step has just made them (etl_att_now, etl_att_clients: queries/attribution.sql,
-- which runs first in the same transaction). Before the window start nothing changed: neither a purchase's credits
-- nor its touch sessions' devices, nor their segments (a session's segment depends on the client's sessions of
-- earlier days only).
DROP TABLE IF EXISTS etl_attd_credits;

CREATE TEMP TABLE etl_attd_credits ON COMMIT DROP AS
SELECT client_id, purchase_at, model, session_id, channel_group, source, medium, campaign, purchases, revenue
  FROM etl_att_now;

-- name: apply  the difference between the clients' rows now and as kept, added to the aggregate; then their rows
DROP TABLE IF EXISTS etl_attd_delta;

CREATE TEMP TABLE etl_attd_delta ON COMMIT DROP AS
SELECT activity_date, model, channel_group, source, medium, campaign, device_category, segment,
       sum(purchases) AS purchases, sum(revenue) AS revenue
  FROM (SELECT activity_date, model, channel_group, source, medium, campaign, device_category, segment, purchases,
               revenue
          FROM etl_attd_now
        UNION ALL
        SELECT m.activity_date, m.model, m.channel_group, m.source, m.medium, m.campaign, m.device_category,
               m.segment, -m.purchases, -m.revenue
          FROM etl_att_clients c
          JOIN dw.agg_attribution_dims_members m ON m.client_id = c.client_id AND m.purchase_at >= c.win_start) x
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(purchases) <> 0 OR sum(revenue) <> 0;

INSERT INTO dw.agg_daily_attribution_dims AS a (activity_date, model, channel_group, source, medium, campaign,
                                                device_category, segment, purchases, revenue)
    SELECT activity_date, model, channel_group, source, medium, campaign, device_category, segment, purchases,
           revenue
      FROM etl_attd_delta
    ON CONFLICT (activity_date, model, channel_group, source, medium, campaign, device_category, segment)
    DO UPDATE SET purchases = a.purchases + excluded.purchases, revenue = a.revenue + excluded.revenue;

-- a row without credited purchases has no revenue either (every credit carries its share of both)
DELETE FROM dw.agg_daily_attribution_dims a USING etl_attd_delta d
    WHERE (a.activity_date, a.model, a.channel_group, a.source, a.medium, a.campaign, a.device_category, a.segment)
        = (d.activity_date, d.model, d.channel_group, d.source, d.medium, d.campaign, d.device_category, d.segment)
      AND a.purchases = 0;

DELETE FROM dw.agg_attribution_dims_members m USING etl_att_clients c
    WHERE m.client_id = c.client_id AND m.purchase_at >= c.win_start;

INSERT INTO dw.agg_attribution_dims_members (client_id, purchase_at, model, channel_group, source, medium,
                                             campaign, device_category, segment, activity_date, purchases, revenue)
    SELECT client_id, purchase_at, model, channel_group, source, medium, campaign, device_category, segment,
           activity_date, purchases, revenue
      FROM etl_attd_now;

-- name: everyone  the credits of the rebuild: every purchase from the first dirty day %(d0)s on, as
-- dw.agg_attribution_members holds them after attribution.rebuild (later purchases too: a touch session's segment
-- depends on every earlier session of its client)
DROP TABLE IF EXISTS etl_attd_credits;

CREATE TEMP TABLE etl_attd_credits ON COMMIT DROP AS
SELECT client_id, purchase_at, model, session_id, channel_group, source, medium, campaign, purchases, revenue
  FROM dw.agg_attribution_members WHERE activity_date >= %(d0)s::date;

-- name: rebuild  both tables from %(d0)s on, from scratch
DELETE FROM dw.agg_attribution_dims_members WHERE activity_date >= %(d0)s::date;

DELETE FROM dw.agg_daily_attribution_dims WHERE activity_date >= %(d0)s::date;

INSERT INTO dw.agg_attribution_dims_members (client_id, purchase_at, model, channel_group, source, medium,
                                             campaign, device_category, segment, activity_date, purchases, revenue)
    SELECT client_id, purchase_at, model, channel_group, source, medium, campaign, device_category, segment,
           activity_date, purchases, revenue
      FROM etl_attd_now;

INSERT INTO dw.agg_daily_attribution_dims (activity_date, model, channel_group, source, medium, campaign,
                                           device_category, segment, purchases, revenue)
    SELECT activity_date, model, channel_group, source, medium, campaign, device_category, segment, sum(purchases),
           sum(revenue)
      FROM etl_attd_now
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

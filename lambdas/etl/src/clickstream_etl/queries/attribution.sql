-- Attribution (attribution.py; sql/dw/0038, 0039): each purchase's credits per model (dw.agg_attribution_members)
-- from the client's sessions, and what the incremental apply and the rebuild write. The purchases are those of
-- etl_att_purchases (client_id, event_id, purchase_at, session_id, revenue); the lookback is
-- etl.attribution_settings'.

-- name: members  the one definition: the credits of the purchases of etl_att_purchases.
-- A purchase = a purchase event (dw.events), on the UTC day of its event time, for its stored revenue. Its window
-- = its own session and the client's sessions that started before it, no earlier than the lookback before the
-- purchase, in (session_start, session_id) order; a session's channel group, source, medium and campaign are
-- dw.sessions' (acquisition.py; '(not set)' / 'Unassigned' for a session written before migration 0031).
-- first_touch: the window's first session, credit 1. last_non_direct: the window's latest session whose source is
-- not '(direct)', else the purchase's own session (GA4's rule), credit 1. linear: each of the n sessions
-- round(1/n, 12) of the purchase and round(revenue/n, 12) of its revenue, the purchase's own session the rest, so
-- that a purchase's credits sum to exactly 1 and its revenue in every model.
DROP TABLE IF EXISTS etl_att_now;

CREATE TEMP TABLE etl_att_now ON COMMIT DROP AS
WITH p AS (
    SELECT p.client_id, p.event_id, p.purchase_at, p.revenue, o.session_id AS own_id, o.session_start AS own_start,
           p.purchase_at - make_interval(days => (SELECT lookback_days FROM etl.attribution_settings)) AS since
      FROM etl_att_purchases p JOIN dw.sessions o ON o.session_id = p.session_id
), touch AS (
    SELECT p.client_id, p.event_id, p.purchase_at, p.revenue, s.session_id, s.session_id = p.own_id AS own,
           coalesce(s.channel_group, {unassigned}) AS channel_group, coalesce(s.source, {not_set}) AS source,
           coalesce(s.medium, {not_set}) AS medium, coalesce(s.campaign, {not_set}) AS campaign,
           row_number() OVER (PARTITION BY p.event_id ORDER BY s.session_start, s.session_id) AS first_rank,
           -- last_rank 1: the latest non-direct session, else the purchase's own (other direct sessions sort last)
           row_number() OVER (PARTITION BY p.event_id
                              ORDER BY s.source IS NOT DISTINCT FROM '(direct)' AND s.session_id <> p.own_id,
                                       s.source IS DISTINCT FROM '(direct)' DESC,
                                       s.session_start DESC, s.session_id DESC) AS last_rank,
           count(*) OVER (PARTITION BY p.event_id) AS n
      FROM p JOIN dw.sessions s  -- a range of the (client_id, session_start) index
        ON s.client_id = p.client_id AND s.session_start >= least(p.since, p.own_start)
       AND s.session_start <= p.own_start
       AND (s.session_id = p.own_id OR (s.session_start >= p.since
                                        AND (s.session_start, s.session_id) < (p.own_start, p.own_id)))
)
SELECT client_id, purchase_at, event_id, 'first_touch'::text AS model, session_id, channel_group, source, medium,
       campaign, 1::numeric AS purchases, revenue
  FROM touch WHERE first_rank = 1
UNION ALL
SELECT client_id, purchase_at, event_id, 'last_non_direct', session_id, channel_group, source, medium, campaign,
       1, revenue
  FROM touch WHERE last_rank = 1
UNION ALL
SELECT client_id, purchase_at, event_id, 'linear', session_id, channel_group, source, medium, campaign,
       CASE WHEN own THEN 1 - (n - 1) * round(1::numeric / n, 12) ELSE round(1::numeric / n, 12) END,
       CASE WHEN own THEN revenue - (n - 1) * round(revenue / n, 12) ELSE round(revenue / n, 12) END
  FROM touch;

-- name: pending  the purchases of the incremental apply: those of the pending clients (etl.delta_clients) from
-- their window start on. Before it nothing changed: no event, and no session (a session never straddles the window
-- start), so neither did the credits of a purchase there, whose window ends with its own session.
-- The pending clients are copied to etl_att_clients, without an index and analyzed: every read of the apply starts
-- from them (through the purchases' and the members' (client_id, ...) indexes), so that a small run costs in
-- proportion to its clients, whatever the warehouse holds. (Joined to etl.delta_clients, whose statistics may be a
-- big run's, the planner read the whole members' primary key and probed the pending clients with each row.)
DROP TABLE IF EXISTS etl_att_clients;

CREATE TEMP TABLE etl_att_clients ON COMMIT DROP AS SELECT client_id, win_start FROM etl.delta_clients;

ANALYZE etl_att_clients;

DROP TABLE IF EXISTS etl_att_purchases;

CREATE TEMP TABLE etl_att_purchases ON COMMIT DROP AS
SELECT e.client_id, e.event_id, e.event_timestamp AS purchase_at, e.session_id, e.revenue
  FROM etl_att_clients c
  JOIN dw.events e ON e.client_id = c.client_id AND e.event_timestamp >= c.win_start
 WHERE e.event_name = 'purchase';

-- name: apply  the difference between the credits now and as kept, added to the aggregate; then the credits
CREATE TEMP TABLE etl_att_delta ON COMMIT DROP AS
SELECT activity_date, model, channel_group, source, medium, campaign, sum(purchases) AS purchases,
       sum(revenue) AS revenue
  FROM (SELECT (purchase_at AT TIME ZONE 'UTC')::date AS activity_date, model, channel_group, source, medium,
               campaign, purchases, revenue
          FROM etl_att_now
        UNION ALL
        SELECT m.activity_date, m.model, m.channel_group, m.source, m.medium, m.campaign, -m.purchases, -m.revenue
          FROM etl_att_clients c
          JOIN dw.agg_attribution_members m ON m.client_id = c.client_id AND m.purchase_at >= c.win_start) x
 GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(purchases) <> 0 OR sum(revenue) <> 0;

INSERT INTO dw.agg_daily_attribution AS a (activity_date, model, channel_group, source, medium, campaign, purchases,
                                           revenue)
    SELECT activity_date, model, channel_group, source, medium, campaign, purchases, revenue FROM etl_att_delta
    ON CONFLICT (activity_date, model, channel_group, source, medium, campaign)
    DO UPDATE SET purchases = a.purchases + excluded.purchases, revenue = a.revenue + excluded.revenue;

DELETE FROM dw.agg_daily_attribution a USING etl_att_delta d
    WHERE (a.activity_date, a.model, a.channel_group, a.source, a.medium, a.campaign)
          = (d.activity_date, d.model, d.channel_group, d.source, d.medium, d.campaign)
      AND a.purchases = 0;

DELETE FROM dw.agg_attribution_members m USING etl_att_clients c
    WHERE m.client_id = c.client_id AND m.purchase_at >= c.win_start;

INSERT INTO dw.agg_attribution_members (client_id, purchase_at, event_id, model, session_id, activity_date,
                                        channel_group, source, medium, campaign, purchases, revenue)
    SELECT client_id, purchase_at, event_id, model, session_id, (purchase_at AT TIME ZONE 'UTC')::date,
           channel_group, source, medium, campaign, purchases, revenue
      FROM etl_att_now;

-- name: days  the purchases of the rebuild: those of the days from %(d0)s to before %(d1)s
DROP TABLE IF EXISTS etl_att_purchases;

CREATE TEMP TABLE etl_att_purchases ON COMMIT DROP AS
SELECT client_id, event_id, event_timestamp AS purchase_at, session_id, revenue
  FROM dw.events
 WHERE event_name = 'purchase' AND event_timestamp >= %(d0)s::date AND event_timestamp < %(d1)s::date;

-- name: rebuild  both tables for those days, from scratch
DELETE FROM dw.agg_attribution_members WHERE activity_date >= %(d0)s::date AND activity_date < %(d1)s::date;

DELETE FROM dw.agg_daily_attribution WHERE activity_date >= %(d0)s::date AND activity_date < %(d1)s::date;

INSERT INTO dw.agg_attribution_members (client_id, purchase_at, event_id, model, session_id, activity_date,
                                        channel_group, source, medium, campaign, purchases, revenue)
    SELECT client_id, purchase_at, event_id, model, session_id, (purchase_at AT TIME ZONE 'UTC')::date,
           channel_group, source, medium, campaign, purchases, revenue
      FROM etl_att_now;

INSERT INTO dw.agg_daily_attribution (activity_date, model, channel_group, source, medium, campaign, purchases,
                                      revenue)
    SELECT (purchase_at AT TIME ZONE 'UTC')::date, model, channel_group, source, medium, campaign, sum(purchases),
           sum(revenue)
      FROM etl_att_now GROUP BY 1, 2, 3, 4, 5, 6;

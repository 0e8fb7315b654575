-- Sessions per day and acquisition (acquisition_daily.py; sql/dw/0044): dw.agg_daily_acquisition from the sessions
-- of etl_acq_src (sign, session facts), which the incremental apply and the rebuild each fill their way.

-- name: pending  the apply's sessions: the pending clients' sessions as kept (-1) and now (+1), from etl_sfacts
-- (aggregates.py, part 'sessions')
CREATE TEMP TABLE etl_acq_src ON COMMIT DROP AS
SELECT sign, session_date, user_login_state, channel_group, source, medium, campaign, is_engaged, is_converted,
       is_first_visit, revenue
  FROM etl_sfacts;

-- name: range  the rebuild's sessions: every session that starts in [%(d0)s, %(d1)s), and their rows cleared
DROP TABLE IF EXISTS etl_acq_src;

CREATE TEMP TABLE etl_acq_src ON COMMIT DROP AS
SELECT 1::smallint AS sign, session_date, user_login_state, channel_group, source, medium, campaign, is_engaged,
       is_converted, is_first_visit, revenue
  FROM dw.sessions WHERE session_date >= %(d0)s AND session_date < %(d1)s;

DELETE FROM dw.agg_daily_acquisition WHERE activity_date >= %(d0)s AND activity_date < %(d1)s;

-- name: add  the one definition: etl_acq_src's sessions added to their day, login state and acquisition
-- (Unassigned / (not set) for a session written before migration 0031); rows left with no session are deleted
INSERT INTO dw.agg_daily_acquisition AS a
    SELECT session_date, user_login_state, coalesce(channel_group, {unassigned}), coalesce(source, {not_set}),
           coalesce(medium, {not_set}), coalesce(campaign, {not_set}), sum(sign),
           coalesce(sum(sign) FILTER (WHERE is_engaged), 0), coalesce(sum(sign) FILTER (WHERE is_converted), 0),
           coalesce(sum(sign) FILTER (WHERE is_first_visit), 0), sum(sign * revenue)
      FROM etl_acq_src GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (activity_date, user_login_state, channel_group, source, medium, campaign) DO UPDATE SET
      sessions = a.sessions + excluded.sessions, engaged_sessions = a.engaged_sessions + excluded.engaged_sessions,
      converted_sessions = a.converted_sessions + excluded.converted_sessions,
      first_visit_sessions = a.first_visit_sessions + excluded.first_visit_sessions,
      revenue = a.revenue + excluded.revenue;

DELETE FROM dw.agg_daily_acquisition
    WHERE activity_date IN (SELECT DISTINCT session_date FROM etl_acq_src) AND sessions = 0;

-- Sessions per day and acquisition (issue 25 item 6): what the Acquisition dashboard's channel and campaign tables
-- read, kept by the ETL (clickstream_etl/acquisition_daily.py, queries/acquisition_daily.sql; docs/warehouse.md,
-- "Daily acquisition"). Per UTC day of the session's start, login state, and the session's channel group, source,
-- medium and campaign (dw.sessions, migration 0031; '(not set)' for a session written before it): the sessions,
-- engaged, converted and first-visit sessions, and their revenue. Each value is bounded like
-- dw.agg_daily_attribution's (the acquisition rule cuts them to 100 characters).
CREATE TABLE dw.agg_daily_acquisition (
    activity_date        date    NOT NULL,
    user_login_state     text    NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    channel_group        text    NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    source               text    NOT NULL CONSTRAINT source_max_bytes CHECK (octet_length(source) <= 400),
    medium               text    NOT NULL CONSTRAINT medium_max_bytes CHECK (octet_length(medium) <= 400),
    campaign             text    NOT NULL CONSTRAINT campaign_max_bytes CHECK (octet_length(campaign) <= 400),
    sessions             bigint  NOT NULL,
    engaged_sessions     bigint  NOT NULL,
    converted_sessions   bigint  NOT NULL,
    first_visit_sessions bigint  NOT NULL,
    revenue              numeric NOT NULL,
    PRIMARY KEY (activity_date, user_login_state, channel_group, source, medium, campaign)
);

-- The incremental apply keeps each pending client's sessions as they were (etl.delta_sfacts, migration 0006): with
-- their acquisition too, so that a session whose first event changes (a late event) moves between rows.
-- IF NOT EXISTS: another aggregate may keep the same columns of a session.
ALTER TABLE etl.delta_sfacts
    ADD COLUMN IF NOT EXISTS source text,
    ADD COLUMN IF NOT EXISTS medium text,
    ADD COLUMN IF NOT EXISTS campaign text,
    ADD COLUMN IF NOT EXISTS channel_group text;

-- A warehouse that already holds sessions: every day with sessions is marked dirty, so the next run's recompute
-- (clickstream_etl.rebuild.rebuild_dirty_days) fills the new table for them.
INSERT INTO etl.dirty_days (activity_date)
SELECT DISTINCT session_date FROM dw.sessions
ON CONFLICT DO NOTHING;

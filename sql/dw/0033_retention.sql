-- Weekly retention cohorts (issue 25), kept by the ETL (clickstream_etl/retention.py, queries/retention.sql;
-- docs/warehouse.md, "Retention cohorts").
--
-- dw.agg_weekly_retention is what the Retention dashboard reads: per cohort kind, cohort week and later week, the
-- number of the cohort's clients active that week. 'clients': cohort = the week (ISO, Monday, UTC) of the client's
-- first visit (the session holding its first-visit event), active = started a session that week. 'purchasers':
-- cohort = the week of the client's first purchase, active = purchased that week. The row active_week =
-- cohort_week is the cohort's size.
CREATE TABLE dw.agg_weekly_retention (
    cohort      text   NOT NULL CHECK (cohort IN ('clients', 'purchasers')),
    cohort_week date   NOT NULL,
    active_week date   NOT NULL,
    clients     bigint NOT NULL,
    PRIMARY KEY (cohort, cohort_week, active_week),
    CHECK (active_week >= cohort_week)
);

-- Each client's present contribution to dw.agg_weekly_retention (one row per cohort kind and active week): an apply
-- replaces a changed client's rows and adds the difference to the aggregate, so applying it again changes
-- nothing. Dashboards do not read it.
CREATE TABLE dw.agg_retention_members (
    client_id   text NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    cohort      text NOT NULL CHECK (cohort IN ('clients', 'purchasers')),
    active_week date NOT NULL,
    cohort_week date NOT NULL,
    PRIMARY KEY (client_id, cohort, active_week)
);

-- A warehouse that already holds sessions: its newest day is marked dirty, so the next run's recompute
-- (clickstream_etl.rebuild.rebuild_dirty_days), which rebuilds the retention tables from every client's sessions,
-- fills them.
INSERT INTO etl.dirty_days (activity_date)
SELECT max(session_date) FROM dw.sessions HAVING max(session_date) IS NOT NULL
ON CONFLICT DO NOTHING;

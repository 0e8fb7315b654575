-- Hourly anomaly checks (clickstream_etl.anomalies, docs/warehouse.md "Anomalies and data quality").
--
-- After the aggregates, each ETL run evaluates the closed hours it has not evaluated yet and the last few again
-- (late events still change them): every check of the hour against its seasonal baseline, the same hour of the
-- week in the previous weeks. An hour's rows here are replaced as a whole, in one transaction, each time it is
-- evaluated: the same figures give the same rows, whatever the number of runs.

-- One row per evaluated hour: when, by which run, how many checks had enough volume to be evaluated, how many
-- flagged.
CREATE TABLE dw.anomaly_hours (
    hour            timestamptz PRIMARY KEY,
    evaluated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id          bigint,
    checks          integer NOT NULL,
    flags           integer NOT NULL
);

-- One row per check of an hour that fell outside its baseline's bounds, with the reason: the metric (check and
-- subject, e.g. volume / purchase), what was observed, what the baseline expected (the median of the same hour of
-- the week), the bound crossed and the direction.
CREATE TABLE dw.anomaly_flags (
    hour            timestamptz NOT NULL REFERENCES dw.anomaly_hours (hour) ON DELETE CASCADE,
    check_name      text NOT NULL                 -- anomalies.CHECKS
                    CHECK (check_name IN ('volume', 'reject_rate', 'duplicate_rate', 'late_rate', 'conversion')),
    subject         text NOT NULL                 -- event name / funnel step pair; '' when the check has none
                    CONSTRAINT subject_max_bytes CHECK (octet_length(subject) <= 64),
    direction       text NOT NULL CHECK (direction IN ('high', 'low')),
    observed        double precision NOT NULL,
    expected        double precision NOT NULL,    -- median of the baseline
    lower_bound     double precision NOT NULL,
    upper_bound     double precision NOT NULL,
    spread          double precision NOT NULL,    -- 1.4826 x MAD of the baseline (a robust standard deviation)
    baseline_weeks  integer NOT NULL,             -- weeks the baseline had
    volume          bigint NOT NULL,              -- the observed count, or the rate's denominator
    reason          text NOT NULL,                -- the same in words, for the dashboard and the logs
    PRIMARY KEY (hour, check_name, subject)
);

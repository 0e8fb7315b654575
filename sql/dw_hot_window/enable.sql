-- The hot window's schema (docs/warehouse.md "Hot window", docs/lake.md "Hot window"), applied only when the hot
-- window is switched on (clickstream_hot_window_days > 0 with the lake on): the dw_db role runs this file as the
-- owner after the numbered migrations, and only when dw.events is not partitioned yet. With the window off nothing
-- of this exists: the warehouse's schema is the numbered migrations' alone.
--
-- dw.events and dw.sessions become tables partitioned by UTC day, so that days the lake holds leave PostgreSQL by
-- dropping partitions (no DELETE, no vacuum). Uniqueness of event_id moves to a ledger of its own, dw.event_ids: a
-- partitioned table's primary key must contain its partition key, so (event_id, event_timestamp) alone would let
-- one event land twice with two timestamps, and an event whose day has left would load again. The ledger keeps
-- every id; the ETL's load writes it in the same transaction as the events (clickstream_etl.load) and its dedup
-- reads it (clickstream_etl.plan).
--
-- Idempotent: on a converted warehouse it does nothing. One transaction: a failure leaves the tables as they were.
-- It waits for a running ETL (the ETL's advisory lock, clickstream_etl.runner.LOCK_KEY) and then holds it.
-- The rows are copied once (time and disk: about the size of dw.events and dw.sessions).

BEGIN;
SET LOCAL search_path = pg_catalog, pg_temp;  -- every name below, and every index definition read, qualified
SELECT pg_advisory_xact_lock(x'636C6B45544C'::bigint);

DO $convert$
DECLARE
    ev_defs text[];
    ev_names text[];
    se_defs text[];
    se_names text[];
    def text;
BEGIN
IF (SELECT relkind FROM pg_class WHERE oid = 'dw.events'::regclass) = 'p' THEN
    RAISE NOTICE 'hot window: dw.events is partitioned already, nothing to do';
    RETURN;
END IF;

-- Every event id the warehouse ever accepted.
CREATE TABLE dw.event_ids (
    event_id uuid PRIMARY KEY
);
INSERT INTO dw.event_ids (event_id) SELECT event_id FROM dw.events;

-- How far the hot window has dropped rows (one row once it has): days before these hold no raw rows.
CREATE TABLE etl.hot_window (
    id              smallint PRIMARY KEY CHECK (id = 1),
    events_before   date NOT NULL,
    sessions_before date NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Each table's indexes other than its primary key are made again on the partitioned table from their own
-- definitions (whatever migrations added them); the old table keeps only its primary key until it is dropped.
SELECT coalesce(array_agg(pg_get_indexdef(x.indexrelid) ORDER BY c.relname), '{}'),
       coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
  INTO ev_defs, ev_names
  FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
 WHERE x.indrelid = 'dw.events'::regclass AND NOT x.indisprimary;
SELECT coalesce(array_agg(pg_get_indexdef(x.indexrelid) ORDER BY c.relname), '{}'),
       coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
  INTO se_defs, se_names
  FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
 WHERE x.indrelid = 'dw.sessions'::regclass AND NOT x.indisprimary;

ALTER TABLE dw.events RENAME TO events_unpartitioned;
ALTER INDEX dw.events_pkey RENAME TO events_unpartitioned_pkey;
FOREACH def IN ARRAY ev_names LOOP
    EXECUTE format('DROP INDEX dw.%I', def);
END LOOP;

CREATE TABLE dw.events (LIKE dw.events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (event_timestamp);
ALTER TABLE dw.events ADD CONSTRAINT events_pkey PRIMARY KEY (event_id, event_timestamp);
FOREACH def IN ARRAY ev_defs LOOP
    EXECUTE def;
END LOOP;
-- rows of a day without its partition yet (dw.hot_window_add_days moves them into it when it makes it)
CREATE TABLE dw.events_default PARTITION OF dw.events DEFAULT;

ALTER TABLE dw.sessions RENAME TO sessions_unpartitioned;
ALTER INDEX dw.sessions_pkey RENAME TO sessions_unpartitioned_pkey;
FOREACH def IN ARRAY se_names LOOP
    EXECUTE format('DROP INDEX dw.%I', def);
END LOOP;

-- session_id is md5(client_id, session_start) and session_date the day of session_start: the key stays unique
-- by session_id alone.
CREATE TABLE dw.sessions (LIKE dw.sessions_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (session_date);
ALTER TABLE dw.sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (session_id, session_date);
FOREACH def IN ARRAY se_defs LOOP
    EXECUTE def;
END LOOP;
CREATE TABLE dw.sessions_default PARTITION OF dw.sessions DEFAULT;

-- One day's partitions of dw.events and dw.sessions, for each day of [first_day, last_day] that has none; rows of
-- such a day already in a default partition move into the new one. Returns how many partitions it made.
-- SECURITY DEFINER: the ETL's role may not create tables; it may call this (dw_db grants EXECUTE to it alone).
CREATE FUNCTION dw.hot_window_add_days(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    d date;
    made integer := 0;
    lo timestamptz;
    hi timestamptz;
    part text;
BEGIN
    IF last_day - first_day > 400 THEN
        RAISE EXCEPTION 'hot_window_add_days: % days asked for at once (at most 401)', last_day - first_day + 1;
    END IF;
    FOR d IN SELECT generate_series(first_day, last_day, interval '1 day')::date LOOP
        lo := d::timestamp AT TIME ZONE 'UTC';
        hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
        part := 'events_' || to_char(d, 'YYYYMMDD');
        IF to_regclass('dw.' || part) IS NULL THEN
            -- a plain table first, filled with the day's rows from the default partition, then attached
            EXECUTE format('CREATE TABLE dw.%I (LIKE dw.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            EXECUTE format('WITH m AS (DELETE FROM dw.events_default WHERE event_timestamp >= %L '
                           'AND event_timestamp < %L RETURNING *) INSERT INTO dw.%I SELECT * FROM m', lo, hi, part);
            EXECUTE format('ALTER TABLE dw.events ATTACH PARTITION dw.%I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
            made := made + 1;
        END IF;
        part := 'sessions_' || to_char(d, 'YYYYMMDD');
        IF to_regclass('dw.' || part) IS NULL THEN
            EXECUTE format('CREATE TABLE dw.%I (LIKE dw.sessions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            EXECUTE format('WITH m AS (DELETE FROM dw.sessions_default WHERE session_date = %L RETURNING *) '
                           'INSERT INTO dw.%I SELECT * FROM m', d, part);
            EXECUTE format('ALTER TABLE dw.sessions ATTACH PARTITION dw.%I FOR VALUES FROM (%L) TO (%L)',
                           part, d, d + 1);
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$fn$;
REVOKE ALL ON FUNCTION dw.hot_window_add_days(date, date) FROM PUBLIC;

-- Every day before events_before (dw.events) and before sessions_before (dw.sessions) leaves: its partitions are
-- dropped, rows of those days in the default partitions deleted. Returns the dropped partitions' names.
-- The caller (clickstream_etl/lake/hot_window.py) checks first that the lake holds those days; the event ids
-- stay in dw.event_ids. Recorded in etl.hot_window.
CREATE FUNCTION dw.hot_window_drop_days(events_before date, sessions_before date) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname, p.relname AS parent
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_class p ON p.oid = i.inhparent
          JOIN pg_namespace n ON n.oid = p.relnamespace
         WHERE n.nspname = 'dw' AND p.relname IN ('events', 'sessions') AND c.relname ~ '_[0-9]{8}$'
           AND to_date(right(c.relname, 8), 'YYYYMMDD')
               < CASE p.relname WHEN 'events' THEN events_before ELSE sessions_before END
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE dw.%I', part.relname);
        RETURN NEXT part.relname;
    END LOOP;
    DELETE FROM dw.events_default WHERE event_timestamp < events_before::timestamp AT TIME ZONE 'UTC';
    DELETE FROM dw.sessions_default WHERE session_date < sessions_before;
    INSERT INTO etl.hot_window (id, events_before, sessions_before) VALUES (1, events_before, sessions_before)
    ON CONFLICT (id) DO UPDATE SET events_before = greatest(etl.hot_window.events_before, excluded.events_before),
                                   sessions_before = greatest(etl.hot_window.sessions_before,
                                                              excluded.sessions_before),
                                   updated_at = now();
END
$fn$;
REVOKE ALL ON FUNCTION dw.hot_window_drop_days(date, date) FROM PUBLIC;

-- The existing rows: one partition per day they cover (at most 401 days; an older history stays in the default
-- partitions until it leaves, where dropping by day deletes it), then one copy.
PERFORM dw.hot_window_add_days(d.lo, d.hi)
   FROM (SELECT least(min((event_timestamp AT TIME ZONE 'UTC')::date),
                      (SELECT min(session_date) FROM dw.sessions_unpartitioned)) AS lo,
                greatest(max((event_timestamp AT TIME ZONE 'UTC')::date),
                         (SELECT max(session_date) FROM dw.sessions_unpartitioned)) AS hi
           FROM dw.events_unpartitioned) d
  WHERE d.lo IS NOT NULL AND d.hi - d.lo <= 400;

INSERT INTO dw.events SELECT * FROM dw.events_unpartitioned;
INSERT INTO dw.sessions SELECT * FROM dw.sessions_unpartitioned;
DROP TABLE dw.events_unpartitioned;
DROP TABLE dw.sessions_unpartitioned;
END
$convert$;

COMMIT;

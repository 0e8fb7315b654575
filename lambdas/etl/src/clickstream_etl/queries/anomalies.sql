-- The anomaly checks' reads and writes (clickstream_etl.anomalies).

-- name: activity  each hour's event counts (event time), all login states together
SELECT activity_hour, sum(events), sum(page_views), sum(view_items), sum(add_to_carts), sum(begin_checkouts),
       sum(purchases)
  FROM dw.agg_hourly_activity WHERE activity_hour = ANY(%(hours)s::timestamptz[]) GROUP BY 1;

-- name: received_hour  one hour received: the manifest's lines, duplicates and rejects of the raw objects written
-- that hour, the ingest's rejects, the ETL's stale rejects; one such SELECT per hour (anomalies._figures), each
-- LIKE with a constant prefix (sql/dw/0037)
SELECT %(h{{i}})s::timestamptz, f.lines, f.duplicates, f.rejects, r.rejects, s.stale
  FROM (SELECT coalesce(sum(lines), 0) AS lines, coalesce(sum(duplicates), 0) AS duplicates,
               coalesce(sum(rejects), 0) AS rejects
          FROM etl.files WHERE bucket = %(bucket)s AND object_key LIKE %(k{{i}})s) f,
       (SELECT coalesce(sum(rejects), 0) AS rejects FROM dw.agg_hourly_ingest_rejects
         WHERE received_hour = %(h{{i}})s) r,
       (SELECT count(*) AS stale FROM etl.rejects WHERE source_file LIKE %(s{{i}})s AND reason = %(stale)s) s;

-- name: starts  the first hour of each side's data: hourly activity; hour received (ingest rejects, manifest: the
-- first key in the primary key's order, which is the keys' hour order whatever the collation: same layout)
SELECT (SELECT min(activity_hour) FROM dw.agg_hourly_activity),
       (SELECT min(received_hour) FROM dw.agg_hourly_ingest_rejects),
       (SELECT to_timestamp(substring(object_key FROM %(key_hour)s), 'YYYY/MM/DD/HH24')::timestamp AT TIME ZONE 'UTC'
          FROM etl.files WHERE bucket = %(bucket)s AND object_key LIKE %(pattern)s
           AND object_key ~ %(key_hour)s
         ORDER BY object_key LIMIT 1);

-- name: insert_flag
INSERT INTO dw.anomaly_flags (hour, check_name, subject, direction, observed, expected, lower_bound, upper_bound,
                              spread, baseline_weeks, volume, reason)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

-- name: latest_flags  the newest evaluated hour's flags by check (one row with a NULL check when it has none)
SELECT f.check_name, count(f.check_name)
  FROM (SELECT max(hour) AS hour FROM dw.anomaly_hours) h
  JOIN dw.anomaly_hours a ON a.hour = h.hour
  LEFT JOIN dw.anomaly_flags f ON f.hour = h.hour
 GROUP BY 1;

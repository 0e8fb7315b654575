# Pipeline health: last ETL run and its status, files/events loaded, rejects by reason, data freshness,
# quarantined files. dashboard_reader may read etl.runs and etl.quarantine only of the etl schema
# (docs/warehouse.md), so files, events and rejects are the run log's counters (rejects by reason from
# etl.runs.rejects_by_reason). The newest event comes from dw.events restricted
# to the newest aggregated hour (the BRIN index makes that a short scan even on a large table).
# What the ingest rejected (events refused by the contract, kept under rejected/ in the raw bucket) comes from
# dw.agg_hourly_ingest_rejects, which the ETL counts from those objects (sql/dw/0015_ingest_rejects.sql).

SQL_LAST_RUN <- "
SELECT run_id, started_at, finished_at, status, trigger, files_seen, files_loaded, files_remaining, lines_read,
       events_loaded, duplicates, rejects, days_refreshed, message
  FROM etl.runs ORDER BY started_at DESC, run_id DESC LIMIT 1"

SQL_RECENT_RUNS <- "
SELECT run_id, started_at, finished_at, status, trigger, files_loaded, files_remaining, events_loaded,
       duplicates, rejects,
       round(extract(epoch FROM (finished_at - started_at))::numeric, 1) AS duration_s, message
  FROM etl.runs ORDER BY started_at DESC, run_id DESC LIMIT $1::int"

SQL_LOAD_TOTALS <- "
SELECT coalesce(sum(files_loaded), 0) AS files_loaded,
       coalesce(sum(events_loaded), 0) AS events_loaded,
       coalesce(sum(duplicates), 0) AS duplicates,
       coalesce(sum(rejects), 0) AS rejects,
       coalesce(sum(files_loaded) FILTER (WHERE started_at >= now() - interval '24 hours'), 0) AS files_24h,
       coalesce(sum(events_loaded) FILTER (WHERE started_at >= now() - interval '24 hours'), 0) AS events_24h,
       max(finished_at) FILTER (WHERE status IN ('succeeded', 'partial')) AS last_success_at
  FROM etl.runs"

SQL_REJECTS <- "
SELECT r.key AS reason, sum(r.value::bigint) AS rejects,
       coalesce(sum(r.value::bigint) FILTER (WHERE started_at >= now() - interval '24 hours'), 0) AS rejects_24h
  FROM etl.runs CROSS JOIN LATERAL jsonb_each_text(rejects_by_reason) AS r(key, value)
 GROUP BY r.key HAVING sum(r.value::bigint) > 0 ORDER BY rejects DESC, reason"

# Two steps, so that the newest hour is a bound value when PostgreSQL plans the dw.events scan (a BRIN range
# scan of the last hour instead of walking a whole index).
SQL_NEWEST_HOUR <- "SELECT max(activity_hour) AS newest_hour, now() AS db_now FROM dw.agg_hourly_activity"
SQL_FRESHNESS <- "
SELECT max(event_timestamp) AS newest_event, max(received_at) AS newest_received, now() AS db_now
  FROM dw.events WHERE event_timestamp >= $1::timestamptz"

# Quarantined raw objects not replayed yet: their own data failed their load, so their events are not in the
# warehouse until an operator fixes the cause and replays them (docs/warehouse.md, "Quarantine and replay").
SQL_QUARANTINE <- "
SELECT object_key, error_class, error_message, first_seen_at, last_seen_at, attempts
  FROM etl.quarantine WHERE resolved_at IS NULL ORDER BY first_seen_at, object_key LIMIT $1::int"
SQL_QUARANTINE_COUNT <- "SELECT count(*) AS open FROM etl.quarantine WHERE resolved_at IS NULL"

# Ingest rejects by reason and field (all time and last 24 h), and per UTC day of the last `days` days.
SQL_INGEST_REJECTS <- "
SELECT reason, field, sum(rejects) AS rejects,
       coalesce(sum(rejects) FILTER (WHERE received_hour >= now() - interval '24 hours'), 0) AS rejects_24h
  FROM dw.agg_hourly_ingest_rejects
 GROUP BY reason, field ORDER BY rejects DESC, reason, field LIMIT $1::int"
SQL_INGEST_REJECTS_TOTAL <- "
SELECT coalesce(sum(rejects), 0) AS rejects,
       coalesce(sum(rejects) FILTER (WHERE received_hour >= now() - interval '24 hours'), 0) AS rejects_24h
  FROM dw.agg_hourly_ingest_rejects"
SQL_INGEST_REJECTS_DAILY <- "
SELECT (received_hour AT TIME ZONE 'UTC')::date AS day, sum(rejects) AS rejects
  FROM dw.agg_hourly_ingest_rejects
 WHERE received_hour >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $1::int - 1)
 GROUP BY 1 ORDER BY 1"

ingest_rejects <- function(q, limit = 20) q(SQL_INGEST_REJECTS, list(limit))
ingest_rejects_total <- function(q) q(SQL_INGEST_REJECTS_TOTAL)
ingest_rejects_daily <- function(q, days = 30) q(SQL_INGEST_REJECTS_DAILY, list(days))

# "missing_required_field (client_id)" for a reason and the field at fault ("" = none).
reason_label <- function(reason, field) ifelse(is.na(field) | field == "", reason, paste0(reason, " (", field, ")"))

# Rows of a (reason, ..., rejects) table summed by reason, largest first: the bars of a rejects chart.
rejects_per_reason <- function(d) {
  if (nrow(d) == 0) return(data.frame(reason = character(), rejects = numeric()))
  s <- stats::aggregate(rejects ~ reason, data = d, FUN = sum)
  s[order(-s$rejects, s$reason), , drop = FALSE]
}

last_run <- function(q) q(SQL_LAST_RUN)
quarantined_files <- function(q, limit = 50) q(SQL_QUARANTINE, list(limit))
quarantine_count <- function(q) as.numeric(q(SQL_QUARANTINE_COUNT)$open[1])

# "ProgramLimitExceeded: index row size 4016 exceeds ..." from the error's class and the message's first line,
# cut to `width` characters.
short_error <- function(error_class, error_message, width = 160) {
  name <- sub("^.*\\.", "", error_class)
  first <- sub("\n.*$", "", error_message)
  text <- paste0(name, ": ", first)
  ifelse(nchar(text) > width, paste0(substr(text, 1, width - 1), "\u2026"), text)
}

recent_runs <- function(q, limit = 15) q(SQL_RECENT_RUNS, list(limit))
load_totals <- function(q) q(SQL_LOAD_TOTALS)
rejects_by_reason <- function(q) q(SQL_REJECTS)

freshness <- function(q) {
  h <- q(SQL_NEWEST_HOUR)
  if (nrow(h) == 0 || is.na(h$newest_hour)) return(list(newest_event = NA, age_seconds = NA_real_))
  d <- q(SQL_FRESHNESS, list(h$newest_hour))
  age <- if (nrow(d) == 0 || is.na(d$newest_event)) NA_real_ else
    as.numeric(difftime(d$db_now, d$newest_event, units = "secs"))
  list(newest_event = if (nrow(d) == 0) NA else d$newest_event, age_seconds = age)
}

# ok / warn / stale / empty from the age of the newest event.
freshness_status <- function(age_seconds, warn_minutes, stale_minutes) {
  if (is.na(age_seconds)) return("empty")
  if (age_seconds <= warn_minutes * 60) return("ok")
  if (age_seconds <= stale_minutes * 60) return("warn")
  "stale"
}

RUN_STATUS_LEVEL <- c(succeeded = "ok", partial = "warn", running = "warn", skipped_locked = "warn",
                      failed = "bad", abandoned = "bad")

# One verdict for the operator: can the data be trusted right now? Quarantined files mean missing events.
pipeline_verdict <- function(run_status, fresh_status, quarantined = 0) {
  run_level <- if (is.null(run_status) || is.na(run_status)) "bad" else unname(RUN_STATUS_LEVEL[run_status])
  if (is.na(run_level)) run_level <- "warn"
  if (fresh_status == "empty" || is.null(run_status) || is.na(run_status)) {
    return(list(level = "bad", text = "No data loaded yet: the ETL has not loaded any event."))
  }
  if (run_level == "bad" || fresh_status == "stale") {
    return(list(level = "bad", text = "Do not trust the numbers: the last ETL run failed or the data is stale."))
  }
  if (!is.na(quarantined) && quarantined > 0) {
    return(list(level = "warn", text = paste("Data is incomplete: quarantined files are not loaded until they are",
                                             "fixed and replayed (see Quarantined files below).")))
  }
  if (run_level == "warn" || fresh_status == "warn") {
    return(list(level = "warn", text = "Data is usable but behind or incomplete: check the last runs below."))
  }
  list(level = "ok", text = "Data is fresh and the last ETL run succeeded.")
}

# Anomalies: the hourly checks of the ETL (clickstream_etl.anomalies) against the same hour of the week in the
# previous weeks; dw.anomaly_hours lists the hours evaluated, dw.anomaly_flags what fell outside, with its reason
# (docs/warehouse.md, "Anomalies and data quality").
SQL_ANOMALY_FLAGS <- "
SELECT f.hour, f.check_name, f.subject, f.direction, f.observed, f.expected, f.lower_bound, f.upper_bound,
       f.baseline_weeks, f.volume, f.reason
  FROM dw.anomaly_flags f
 WHERE f.hour >= (SELECT max(hour) FROM dw.anomaly_hours) - make_interval(days => $1::int)
 ORDER BY f.hour DESC, f.check_name, f.subject LIMIT $2::int"
SQL_ANOMALY_LATEST <- "
SELECT hour, checks, flags, evaluated_at FROM dw.anomaly_hours ORDER BY hour DESC LIMIT 1"

anomaly_flags <- function(q, days = 7, limit = 100) q(SQL_ANOMALY_FLAGS, list(days, limit))
anomaly_latest <- function(q) q(SQL_ANOMALY_LATEST)

# "conversion begin_checkout>purchase" / "volume (all)" / "reject_rate": a flag's metric.
anomaly_metric <- function(check, subject) ifelse(is.na(subject) | subject == "", check, paste(check, subject))

# A flag's figure as shown: rates as percentages, counts as integers.
anomaly_value <- function(check, value) {
  ifelse(check == "volume", formatC(round(value), format = "d", big.mark = ","),
         sprintf("%.2f %%", 100 * value))
}

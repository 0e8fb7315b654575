# Retention: weekly cohorts from dw.agg_weekly_retention (new clients by the week of their first visit, active =
# started a session; purchasers by the week of their first purchase, active = purchased again), and the client
# segments' overview from dw.agg_daily_segments (docs/warehouse.md, "Retention cohorts", "Client segments").
# Weeks are ISO weeks (Monday, UTC). Category, brand and login state do not apply to cohorts or segments. Under a
# channel/device/segment filter (logic/filters.R) the cohorts come from dw.agg_weekly_retention_dims: a cohort is
# filtered by the dimensions of its clients' cohort session (the session of the first visit, the first purchase);
# the segments' overview is of every client (a client's sessions come by several channels and devices).

COHORT_KINDS <- c(clients = "New clients (by first visit)", purchasers = "Purchasers (by first purchase)")
# The cohorts shown: those whose week starts in the period, and at least the RETENTION_MIN_WEEKS weeks ending
# with the period's last week (a short period still shows how cohorts came back).
RETENTION_MIN_WEEKS <- 12
SEGMENT_LABELS <- c(new = "New", active = "Active", loyal = "Loyal", at_risk = "At risk", lost = "Lost")

SQL_RETENTION <- "
SELECT cohort_week, active_week, clients
  FROM dw.agg_weekly_retention
 WHERE cohort = $1 AND cohort_week BETWEEN $2::date AND $3::date AND active_week <= $3::date
 ORDER BY cohort_week, active_week"

SQL_RETENTION_DIMS <- "
SELECT cohort_week, active_week, sum(clients) AS clients
  FROM dw.agg_weekly_retention_dims
 WHERE cohort = $1 AND cohort_week BETWEEN $2::date AND $3::date AND active_week <= $3::date
   AND ($4 = '(all)' OR channel_group = $4) AND ($5 = '(all)' OR device_category = $5) AND ($6 = '(all)' OR segment = $6)
 GROUP BY cohort_week, active_week
 ORDER BY cohort_week, active_week"

# The newest day computed up to the period's end (a backward scan of the primary key), and its segments.
SQL_SEGMENTS <- "
SELECT as_of, segment, clients, purchasers, revenue
  FROM dw.agg_daily_segments
 WHERE as_of = (SELECT max(as_of) FROM dw.agg_daily_segments WHERE as_of <= $1::date)"

week_start <- function(d) {
  d <- as.Date(d)
  d - (as.integer(format(d, "%u")) - 1)
}

# The first and last cohort week shown for filters `f`.
cohort_weeks <- function(f, min_weeks = RETENTION_MIN_WEEKS) {
  last <- week_start(f$end)
  first <- min(week_start(f$start), last - 7 * (min_weeks - 1))
  c(first, last)
}

# Rows (cohort_week, active_week, clients) -> one row per cohort and week offset: size (its clients in week 0),
# week (0, 1, ...), clients, share (clients / size). Offsets with no active client are 0, up to the last week
# that has begun by `last_week`.
retention_matrix <- function(d, last_week) {
  empty <- data.frame(cohort_week = as.Date(character()), size = numeric(), week = integer(), clients = numeric(),
                      share = numeric())
  if (nrow(d) == 0) return(empty)
  d$cohort_week <- as.Date(d$cohort_week)
  d$active_week <- as.Date(d$active_week)
  sizes <- d[d$active_week == d$cohort_week, c("cohort_week", "clients")]
  names(sizes)[2] <- "size"
  cohorts <- sort(unique(sizes$cohort_week))
  out <- do.call(rbind, lapply(cohorts, function(cw) {
    weeks <- seq.int(0L, as.integer(as.Date(last_week) - cw) %/% 7L)
    got <- d[d$cohort_week == cw, ]
    clients <- vapply(weeks, function(w) {
      x <- got$clients[got$active_week == cw + 7L * w]
      if (length(x)) as.numeric(x) else 0
    }, 0)
    size <- sizes$size[sizes$cohort_week == cw]
    data.frame(cohort_week = cw, size = as.numeric(size), week = weeks, clients = clients,
               share = safe_ratio(clients, size))
  }))
  if (is.null(out)) empty else out
}

retention <- function(q, f, kind) {
  weeks <- cohort_weeks(f)
  d <- if (dims_filtered(f)) {
    q(SQL_RETENTION_DIMS, list(kind, weeks[1], f$end, dims_value(f, "channel"), dims_value(f, "device"),
                               dims_value(f, "segment")))
  } else {
    q(SQL_RETENTION, list(kind, weeks[1], f$end))
  }
  retention_matrix(d, week_start(f$end))
}

# The matrix as a wide table: cohort week, size, then "week 0", "week 1", ... shares.
retention_wide <- function(m) {
  if (nrow(m) == 0) return(data.frame(cohort_week = character(), size = numeric()))
  weeks <- sort(unique(m$week))
  cohorts <- sort(unique(m$cohort_week))
  wide <- data.frame(cohort_week = format(cohorts), size = vapply(cohorts, function(cw)
    m$size[m$cohort_week == cw][1], 0))
  for (w in weeks) {
    wide[[paste0("week_", w)]] <- vapply(cohorts, function(cw) {
      x <- m$share[m$cohort_week == cw & m$week == w]
      if (length(x)) x else NA_real_
    }, 0)
  }
  wide
}

# -> data.frame(segment, label, clients, share, purchasers, revenue) in the segments' order, with attribute
# "as_of" (NA when no day was computed by the period's end).
segment_overview <- function(q, f) {
  d <- q(SQL_SEGMENTS, list(f$end))
  as_of <- if (nrow(d)) as.Date(d$as_of[1]) else as.Date(NA)
  out <- data.frame(segment = names(SEGMENT_LABELS), label = unname(SEGMENT_LABELS))
  idx <- match(out$segment, d$segment)
  out$clients <- ifelse(is.na(idx), 0, as.numeric(d$clients[idx]))
  out$purchasers <- ifelse(is.na(idx), 0, as.numeric(d$purchasers[idx]))
  out$revenue <- ifelse(is.na(idx), 0, as.numeric(d$revenue[idx]))
  out$share <- safe_ratio(out$clients, sum(out$clients))
  attr(out, "as_of") <- as_of
  out
}

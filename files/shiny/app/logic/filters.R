# Shared filters: date range (UTC days, inclusive), product category, brand, login state, and the session's
# channel group, device category and segment (the "dimension" filters, read from dw.agg_hourly_dims).
# ALL is the "no filter" value; it is also the grouping-set key of dw.agg_daily_funnel's rollup rows.

ALL <- "(all)"
LOGIN_STATES <- c("logged_in", "logged_out")
# Longest date range. The distinct-visitor count (dw.agg_daily_client_returns) is exact for ranges up to
# clickstream_etl.rebuild.HORIZON_DAYS (366): keep this at most that.
MAX_RANGE_DAYS <- 366

today_utc <- function() as.Date(format(Sys.time(), "%Y-%m-%d", tz = "UTC"))

# Preset -> c(start, end) ending today (UTC).
preset_range <- function(preset, today = today_utc()) {
  days <- switch(preset, today = 1, last7 = 7, last30 = 30, stop("unknown preset: ", preset, call. = FALSE))
  c(today - (days - 1), today)
}

# The period of the same length that ends the day before `start`.
previous_period <- function(start, end) {
  len <- as.integer(end - start) + 1
  c(start - len, start - 1)
}

clean_choice <- function(x) {
  if (is.null(x) || length(x) != 1 || is.na(x) || !nzchar(x)) ALL else as.character(x)
}

# Raw input values -> a validated filter list. Text filters are kept as typed (they are bound as parameters,
# so any string is harmless; an unknown one simply matches nothing).
make_filters <- function(date_range, category = ALL, brand = ALL, login_state = ALL, channel = ALL, device = ALL,
                         segment = ALL) {
  dates <- as.Date(date_range)
  if (length(dates) != 2 || any(is.na(dates))) stop("choose a start and an end date", call. = FALSE)
  start <- min(dates)
  end <- max(dates)
  if (as.integer(end - start) + 1 > MAX_RANGE_DAYS) start <- end - (MAX_RANGE_DAYS - 1)
  list(start = start, end = end, category = clean_choice(category), brand = clean_choice(brand),
       login_state = clean_choice(login_state), channel = clean_choice(channel), device = clean_choice(device),
       segment = clean_choice(segment))
}

with_period <- function(filters, period) {
  filters$start <- period[1]
  filters$end <- period[2]
  filters
}

describe_filters <- function(f) {
  parts <- c(sprintf("%s to %s (UTC)", format(f$start), format(f$end)))
  if (f$category != ALL) parts <- c(parts, sprintf("category %s", f$category))
  if (f$brand != ALL) parts <- c(parts, sprintf("brand %s", f$brand))
  if (f$login_state != ALL) parts <- c(parts, sprintf("login state %s", f$login_state))
  if (dims_value(f, "channel") != ALL) parts <- c(parts, sprintf("channel %s", f$channel))
  if (dims_value(f, "device") != ALL) parts <- c(parts, sprintf("device %s", f$device))
  if (dims_value(f, "segment") != ALL) parts <- c(parts, sprintf("segment %s", f$segment))
  paste(parts, collapse = ", ")
}

# --- channel, device and segment ---------------------------------------------------------------------------------
# A session's channel group and device category (dw.sessions), and its client's segment as of the day before the
# session's day (docs/warehouse.md, "Channel, device and segment filters"). With any of them set, the overview and
# the funnel read dw.agg_hourly_dims, whose rows are per session login state, channel, device and segment; the
# other dashboards do not apply them (DIMS_DASHBOARDS; the UI says so).

DIMS <- c("channel", "device", "segment")
DIMS_DASHBOARDS <- c("overview", "funnel", "products", "acquisition")
DIMS_DASHBOARDS <- c(DIMS_DASHBOARDS, "journeys", "retention")  # dw.agg_daily_transitions_dims and co. (sql/dw/0048)
# A filter list made before these filters existed has no such entries: no filter.
dims_value <- function(f, dim) if (is.null(f[[dim]])) ALL else f[[dim]]
dims_filtered <- function(f) any(vapply(DIMS, function(d) dims_value(f, d) != ALL, logical(1)))

# dw.agg_hourly_dims rows for $1..$2 (dates), $3 login state, $4 channel, $5 device, $6 segment ('(all)': any).
DIMS_WHERE <- "activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
   AND ($4 = '(all)' OR channel_group = $4) AND ($5 = '(all)' OR device_category = $5)
   AND ($6 = '(all)' OR segment = $6)"
dims_params <- function(f) list(f$start, f$end, f$login_state, dims_value(f, "channel"), dims_value(f, "device"),
                                dims_value(f, "segment"))

SQL_DIMS_CHOICES <- "
SELECT 'channel' AS kind, channel_group AS value FROM (
  SELECT DISTINCT channel_group FROM dw.agg_hourly_dims WHERE activity_date >= $1::date) c
UNION ALL
SELECT 'device', device_category FROM (
  SELECT DISTINCT device_category FROM dw.agg_hourly_dims WHERE activity_date >= $1::date) d
ORDER BY 1, 2"

dims_choices <- function(q, since) {
  d <- q(SQL_DIMS_CHOICES, list(since))
  list(channel = d$value[d$kind == "channel"], device = d$value[d$kind == "device"])
}

# Shared filters: date range (UTC days, inclusive), product category, brand, login state.
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
make_filters <- function(date_range, category = ALL, brand = ALL, login_state = ALL) {
  dates <- as.Date(date_range)
  if (length(dates) != 2 || any(is.na(dates))) stop("choose a start and an end date", call. = FALSE)
  start <- min(dates)
  end <- max(dates)
  if (as.integer(end - start) + 1 > MAX_RANGE_DAYS) start <- end - (MAX_RANGE_DAYS - 1)
  list(start = start, end = end, category = clean_choice(category), brand = clean_choice(brand),
       login_state = clean_choice(login_state))
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
  paste(parts, collapse = ", ")
}

# Conversion funnel view_item -> add_to_cart -> begin_checkout -> purchase, counted in sessions.
# Reads dw.agg_daily_funnel. Its GROUPING SETS rows are (category, brand), (category, '(all)') and
# ('(all)', '(all)'): each counts a session once within the group, so "no filter", "a category" and
# "a category and a brand" select rows by equality and are exact. There is no ('(all)', brand) set: a brand
# filter without a category sums that brand's per-category rows, which counts a session that reached a step
# with products of that brand in two categories twice (documented in docs/dashboards.md).
# Counts are summed over days (a session whose steps fall on two UTC days counts on both days).
# With a channel, device or segment filter (dims_filtered, logic/filters.R) the counts come from dw.agg_hourly_dims
# (same counts, per login state, channel, device and segment), which has no product keys: category and brand are
# then not applied (funnel_ignores_products; the dashboard says so) and the split is by login state, channel,
# device or segment only.

FUNNEL_STEPS <- c("view_item", "add_to_cart", "begin_checkout", "purchase")
FUNNEL_COLUMNS <- paste0(FUNNEL_STEPS, "_sessions")

FUNNEL_SUMS <- "sum(view_item_sessions) AS view_item_sessions, sum(add_to_cart_sessions) AS add_to_cart_sessions,
       sum(begin_checkout_sessions) AS begin_checkout_sessions, sum(purchase_sessions) AS purchase_sessions"

# Rows for filters $3 (category) / $4 (brand), '(all)' meaning no filter.
FUNNEL_ROWS <- "(($3 <> '(all)' OR $4 = '(all)') AND product_category = $3 AND product_brand = $4
        OR $3 = '(all)' AND $4 <> '(all)' AND product_category <> '(all)' AND product_brand = $4)"

FUNNEL_BASE <- "activity_date BETWEEN $1::date AND $2::date AND ($5 = '(all)' OR user_login_state = $5)"

SQL_FUNNEL_TOTALS <- paste0("
SELECT ", FUNNEL_SUMS, "
  FROM dw.agg_daily_funnel
 WHERE ", FUNNEL_BASE, " AND ", FUNNEL_ROWS)

SQL_FUNNEL_SPLIT <- list(
  category = paste0("
SELECT product_category AS segment, ", FUNNEL_SUMS, "
  FROM dw.agg_daily_funnel
 WHERE ", FUNNEL_BASE, " AND product_category <> '(all)' AND ($3 = '(all)' OR product_category = $3)
   AND product_brand = $4
 GROUP BY product_category"),
  brand = paste0("
SELECT product_brand AS segment, ", FUNNEL_SUMS, "
  FROM dw.agg_daily_funnel
 WHERE ", FUNNEL_BASE, " AND product_brand <> '(all)' AND ($4 = '(all)' OR product_brand = $4)
   AND (product_category = $3 OR $3 = '(all)' AND product_category <> '(all)')
 GROUP BY product_brand"),
  login_state = paste0("
SELECT user_login_state AS segment, ", FUNNEL_SUMS, "
  FROM dw.agg_daily_funnel
 WHERE ", FUNNEL_BASE, " AND ", FUNNEL_ROWS, "
 GROUP BY user_login_state")
)

SQL_FUNNEL_TREND <- paste0("
SELECT activity_date, sum(view_item_sessions) AS view_item_sessions, sum(purchase_sessions) AS purchase_sessions
  FROM dw.agg_daily_funnel
 WHERE ", FUNNEL_BASE, " AND ", FUNNEL_ROWS, "
 GROUP BY activity_date ORDER BY activity_date")

funnel_params <- function(f) list(f$start, f$end, f$category, f$brand, f$login_state)

# --- with a channel, device or segment filter (dw.agg_hourly_dims) ---
DIMS_FUNNEL_SPLIT_COLUMNS <- c(login_state = "user_login_state", channel = "channel_group", device = "device_category",
                               segment = "segment")
SQL_DIMS_FUNNEL_TOTALS <- paste0("
SELECT ", FUNNEL_SUMS, "
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE)
SQL_DIMS_FUNNEL_SPLIT <- lapply(DIMS_FUNNEL_SPLIT_COLUMNS, function(col) paste0("
SELECT ", col, " AS segment, ", FUNNEL_SUMS, "
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE, "
 GROUP BY ", col))
SQL_DIMS_FUNNEL_TREND <- paste0("
SELECT activity_date, sum(view_item_sessions) AS view_item_sessions, sum(purchase_sessions) AS purchase_sessions
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE, "
 GROUP BY activity_date ORDER BY activity_date")

# Category or brand set together with a channel, device or segment filter: the funnel applies only the latter.
funnel_ignores_products <- function(f) dims_filtered(f) && (f$category != ALL || f$brand != ALL)

funnel_totals <- function(q, f) {
  row <- if (dims_filtered(f)) q(SQL_DIMS_FUNNEL_TOTALS, dims_params(f)) else q(SQL_FUNNEL_TOTALS, funnel_params(f))
  vapply(FUNNEL_COLUMNS, function(col) num0(row[[col]]), numeric(1))
}

# Counts per step -> step table: sessions, step-to-step conversion, overall conversion, drop-off.
funnel_steps <- function(counts) {
  counts <- as.numeric(counts)
  prev <- c(NA, head(counts, -1))
  data.frame(
    step = FUNNEL_STEPS,
    sessions = counts,
    step_conversion = c(NA, safe_ratio(counts[-1], prev[-1])),
    overall_conversion = safe_ratio(counts, counts[1]),
    drop_off = c(NA, prev[-1] - counts[-1]),
    drop_off_rate = c(NA, 1 - safe_ratio(counts[-1], prev[-1])),
    stringsAsFactors = FALSE
  )
}

funnel_has_data <- function(counts) isTRUE(sum(counts) > 0)

# By category and brand from dw.agg_daily_funnel (none with a channel/device/segment filter: an empty frame); by
# login state from it too, or from dw.agg_hourly_dims with such a filter; by channel, device or segment from
# dw.agg_hourly_dims.
funnel_split <- function(q, f, by = c("category", "brand", "login_state", "channel", "device", "segment")) {
  by <- match.arg(by)
  d <- if (by %in% names(DIMS_FUNNEL_SPLIT_COLUMNS) && (dims_filtered(f) || by != "login_state")) {
    q(SQL_DIMS_FUNNEL_SPLIT[[by]], dims_params(f))
  } else if (dims_filtered(f)) {
    data.frame(segment = character(), view_item_sessions = numeric(), add_to_cart_sessions = numeric(),
               begin_checkout_sessions = numeric(), purchase_sessions = numeric())
  } else {
    q(SQL_FUNNEL_SPLIT[[by]], funnel_params(f))
  }
  if (nrow(d) == 0) return(d)
  d$overall_conversion <- safe_ratio(d$purchase_sessions, d$view_item_sessions)
  d$cart_rate <- safe_ratio(d$add_to_cart_sessions, d$view_item_sessions)
  d[order(-d$view_item_sessions, d$segment), ]
}

funnel_trend <- function(q, f) {
  d <- if (dims_filtered(f)) q(SQL_DIMS_FUNNEL_TREND, dims_params(f)) else q(SQL_FUNNEL_TREND, funnel_params(f))
  d$overall_conversion <- safe_ratio(d$purchase_sessions, d$view_item_sessions)
  d
}

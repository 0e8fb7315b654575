# User journeys: landing pages, exit pages and next-page transitions from dw.agg_daily_page_transitions
# ('(entrance)' -> landing page, page -> '(exit)'), or dw.agg_daily_transitions_dims under a channel/device/segment
# filter; the most common paths of the first N pages of a session from dw.session_journeys (an ordered path cannot
# be rebuilt from pairwise transitions).

ENTRANCE <- "(entrance)"
EXIT <- "(exit)"
PATH_SEPARATOR <- " → "

SQL_LANDING_PAGES <- "
SELECT to_page AS page, sum(transitions) AS sessions
  FROM dw.agg_daily_page_transitions
 WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
   AND from_page = '(entrance)'
 GROUP BY to_page ORDER BY sessions DESC, page LIMIT $4::int"

SQL_EXIT_PAGES <- "
SELECT from_page AS page, sum(transitions) AS sessions
  FROM dw.agg_daily_page_transitions
 WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
   AND to_page = '(exit)' AND from_page <> '(entrance)'
 GROUP BY from_page ORDER BY sessions DESC, page LIMIT $4::int"

SQL_NEXT_PAGES <- "
SELECT to_page AS next_page, sum(transitions) AS transitions
  FROM dw.agg_daily_page_transitions
 WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
   AND from_page = $4
 GROUP BY to_page ORDER BY transitions DESC, next_page LIMIT $5::int"

# Pages offered in "next pages from": the landing pages of the period (an index range of the primary key); any
# other page can be typed in.
SQL_PAGE_CHOICES <- SQL_LANDING_PAGES

# Under a channel/device/segment filter (logic/filters.R) the same numbers come from dw.agg_daily_transitions_dims,
# whose rows are also per session channel group, device category and segment (sql/dw/0048); without one, from
# dw.agg_daily_page_transitions as above. $1..$6 as DIMS_WHERE.
# (the column read, its name, the count's name, which rows, the limit's placeholder: constants only)
dims_transitions_sql <- function(column, name, count, rows, limit) paste0("
SELECT ", column, " AS ", name, ", sum(transitions) AS ", count, "
  FROM dw.agg_daily_transitions_dims
 WHERE ", DIMS_WHERE, " AND ", rows, "
 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ", limit, "::int")
SQL_LANDING_PAGES_DIMS <- dims_transitions_sql("to_page", "page", "sessions", "from_page = '(entrance)'", "$7")
SQL_EXIT_PAGES_DIMS <- dims_transitions_sql("from_page", "page", "sessions",
                                            "to_page = '(exit)' AND from_page <> '(entrance)'", "$7")
SQL_NEXT_PAGES_DIMS <- dims_transitions_sql("to_page", "next_page", "transitions", "from_page = $7", "$8")

# Paths cover the most recent PATH_MAX_SESSIONS sessions that started in the period (all of them when there are
# fewer; the UI says which), from dw.session_journeys: one row per session with its dimensions and the ids of the
# paths of its first 1..PATH_MAX_PAGES pages (dw.journey_path_id; the pages of an id in dw.journey_paths). The
# sample is read from an index alone and grouped by path id; only the most common ids' pages are read
# (BENCHMARKS.md, "Dashboards"): the work is that of the sample whatever the period and the size of the DW.
# Without a dimension filter the newest sessions come from a backward scan of session_journeys_start_idx. Under one,
# the period is first cut to the days that hold the newest PATH_MAX_SESSIONS matching sessions (sessions per day
# under the filter from dw.agg_hourly_dims: SQL_PATH_DAYS), and the matching values of each dimension in those days
# are bound as lists, so session_journeys_dims_idx reads only matching sessions of those days (a rare combination
# does not scan the whole period).
PATH_MAX_SESSIONS <- 2000
PATH_MAX_PAGES <- 5  # the longest path dw.session_journeys keeps an id of (sql/dw/0048)

SQL_PATH_DAYS <- paste0("
SELECT activity_date, user_login_state, channel_group, device_category, segment, sum(sessions) AS sessions
  FROM dw.agg_hourly_dims
 WHERE ", DIMS_WHERE, "
 GROUP BY 1, 2, 3, 4, 5 HAVING sum(sessions) > 0")

# The paths of a sample (CTE l: path_ids of the sampled sessions): $8 pages per path, $9 paths shown, ties in
# sessions by path; the considered sessions in every row.
PATHS_OF_SAMPLE <- "
), g AS (
  SELECT path_ids[least(cardinality(path_ids), $8::int)] AS path_id, count(*) AS sessions,
         max(least(cardinality(path_ids), $8::int)) AS pages
    FROM l WHERE cardinality(path_ids) > 0 GROUP BY 1
), t AS (
  SELECT * FROM g ORDER BY sessions DESC FETCH FIRST ($9::int) ROWS WITH TIES
)
SELECT array_to_string(p.pages, ' → ') AS path, t.sessions, t.pages, (SELECT count(*) FROM l) AS considered
  FROM t JOIN dw.journey_paths p USING (path_id)
 ORDER BY t.sessions DESC, path LIMIT $9::int"

# Without a dimension filter: $1..$2 the days, $3 the login state, $4..$6 unused ('(all)'), $7 the sample's size.
SQL_COMMON_PATHS <- paste0("
WITH l AS MATERIALIZED (
  SELECT path_ids FROM dw.session_journeys
   WHERE session_start >= $1::date::timestamp AT TIME ZONE 'UTC'
     AND session_start < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
     AND ($3 = '(all)' OR user_login_state = $3) AND $4 = '(all)' AND $5 = '(all)' AND $6 = '(all)'
   ORDER BY session_start DESC LIMIT $7::int", PATHS_OF_SAMPLE)

# Under one: $1 the first day that holds the newest matching sessions, $2 the period's end, $3..$6 the login states,
# channel groups, device categories and segments to keep (text array literals). No index gives the order of
# `session_start + 0`, so the planner weighs the matching sessions of session_journeys_dims_idx (one range per
# combination of the lists) against the days' range of session_journeys_start_idx: both are bounded by the days.
SQL_COMMON_PATHS_DIMS <- paste0("
WITH l AS MATERIALIZED (
  SELECT path_ids FROM dw.session_journeys
   WHERE session_start >= $1::date::timestamp AT TIME ZONE 'UTC'
     AND session_start < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
     AND user_login_state = ANY ($3::text[]) AND channel_group = ANY ($4::text[])
     AND device_category = ANY ($5::text[]) AND segment = ANY ($6::text[])
   ORDER BY session_start + interval '0 s' DESC LIMIT $7::int", PATHS_OF_SAMPLE)

journey_params <- function(f) list(f$start, f$end, f$login_state)

with_share <- function(d, col) {
  d[[paste0(col, "_share")]] <- safe_ratio(d[[col]], sum(d[[col]]))
  d
}

# Sessions per day, newest first -> the earliest day needed to hold the newest `max_sessions` sessions.
path_first_day <- function(per_day, max_sessions, start) {
  if (nrow(per_day) == 0) return(start)
  per_day <- per_day[order(per_day$activity_date, decreasing = TRUE), ]
  enough <- which(cumsum(per_day$sessions) >= max_sessions)
  if (length(enough) == 0) start else as.Date(per_day$activity_date[enough[1]])
}

journey_dims_params <- function(f) dims_params(f)

landing_pages <- function(q, f, limit = 15) {
  d <- if (dims_filtered(f)) q(SQL_LANDING_PAGES_DIMS, c(journey_dims_params(f), limit))
       else q(SQL_LANDING_PAGES, c(journey_params(f), limit))
  with_share(d, "sessions")
}

exit_pages <- function(q, f, limit = 15) {
  d <- if (dims_filtered(f)) q(SQL_EXIT_PAGES_DIMS, c(journey_dims_params(f), limit))
       else q(SQL_EXIT_PAGES, c(journey_params(f), limit))
  with_share(d, "sessions")
}

next_pages <- function(q, f, page, limit = 12) {
  if (is.null(page) || !nzchar(page)) return(data.frame(next_page = character(), transitions = numeric()))
  d <- if (dims_filtered(f)) q(SQL_NEXT_PAGES_DIMS, c(journey_dims_params(f), page, limit))
       else q(SQL_NEXT_PAGES, c(journey_params(f), page, limit))
  with_share(d, "transitions")
}

page_choices <- function(q, f, limit = 300) landing_pages(q, f, limit)$page

# Values -> a PostgreSQL text array literal (each element quoted).
pg_text_array <- function(x) paste0("{", paste0('"', gsub('(["\\\\])', "\\\\\\1", x), '"', collapse = ","), "}")

# Under a dimension filter, the sample's bounds: list(start, login, channel, device, segment) -- the days holding
# the newest `max_sessions` matching sessions and the values of each dimension in them (SQL_PATH_DAYS); NULL when
# the period has no matching session.
path_sample <- function(q, f, max_sessions) {
  d <- q(SQL_PATH_DAYS, dims_params(f))
  if (nrow(d) == 0) return(NULL)
  per_day <- stats::aggregate(list(sessions = as.numeric(d$sessions)), list(activity_date = as.Date(d$activity_date)),
                              sum)
  from <- path_first_day(per_day, max_sessions, f$start)
  d <- d[as.Date(d$activity_date) >= from, ]
  list(start = from, login = sort(unique(d$user_login_state)), channel = sort(unique(d$channel_group)),
       device = sort(unique(d$device_category)), segment = sort(unique(d$segment)))
}

# -> data.frame(path, sessions, pages) with attribute "sessions_considered" (and "capped" when the period had
# more than max_sessions sessions).
common_paths <- function(q, f, n_pages = 3, limit = 15, max_sessions = PATH_MAX_SESSIONS) {
  n_pages <- as.integer(n_pages)
  if (is.na(n_pages) || n_pages < 1 || n_pages > PATH_MAX_PAGES) {
    stop(sprintf("the number of pages must be between 1 and %d", PATH_MAX_PAGES), call. = FALSE)
  }
  empty <- data.frame(path = character(), sessions = numeric(), pages = numeric())
  attr(empty, "sessions_considered") <- 0
  d <- if (dims_filtered(f)) {
    b <- path_sample(q, f, max_sessions)
    if (is.null(b)) return(empty)
    q(SQL_COMMON_PATHS_DIMS, list(b$start, f$end, pg_text_array(b$login), pg_text_array(b$channel),
                                  pg_text_array(b$device), pg_text_array(b$segment), max_sessions, n_pages, limit))
  } else {
    q(SQL_COMMON_PATHS, list(f$start, f$end, f$login_state, ALL, ALL, ALL, max_sessions, n_pages, limit))
  }
  if (nrow(d) == 0) return(empty)
  considered <- num0(d$considered[1])
  d <- d[, c("path", "sessions", "pages")]
  attr(d, "sessions_considered") <- considered
  attr(d, "capped") <- considered >= max_sessions
  d
}

# Layout of a two-column flow (Sankey-style) chart: the chosen page on the left, its next pages on the right,
# one band per next page with a width proportional to its transitions.
flow_layout <- function(next_df, from_page) {
  n <- nrow(next_df)
  if (n == 0) return(next_df)
  next_df$y <- rev(seq_len(n)) / (n + 1)
  next_df$x_from <- 0
  next_df$y_from <- 0.5
  next_df$x_to <- 1
  next_df$from_page <- from_page
  next_df
}

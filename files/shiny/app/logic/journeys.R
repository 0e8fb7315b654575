# User journeys: landing pages, exit pages and next-page transitions from dw.agg_daily_page_transitions
# ('(entrance)' -> landing page, page -> '(exit)'); the most common paths of the first N pages of a session come
# from the page_view events themselves (an ordered path cannot be rebuilt from pairwise transitions).

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

# Paths need each session's ordered page views, which no aggregate keeps; reading them for every session of a long
# period does not scale (a week of a 10M-event DW is millions of events). So paths cover the most recent
# PATH_MAX_SESSIONS sessions that started in the period (all of them when there are fewer; the UI says which).
# Step 1 picks those sessions (a backward scan of sessions_start_idx) and where they start; step 2 reads the first
# page views of each of them only (SQL_COMMON_PATHS). The cost is that of the sample, whatever the size of the DW
# and the length of the period (BENCHMARKS.md, "Dashboards").
PATH_MAX_SESSIONS <- 2000

SQL_SESSIONS_PER_DAY <- "
SELECT activity_date, sum(sessions) AS sessions FROM dw.agg_daily_sessions
 WHERE activity_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
 GROUP BY activity_date ORDER BY activity_date DESC"

# $1: the first day that can hold one of the newest $4 sessions (from SQL_SESSIONS_PER_DAY), so only the days
# from $1 to the end of the period ($2) are read.
SQL_PATH_WINDOW <- "
SELECT count(*) AS sessions, min(session_start) AS first_start, max(session_end) AS last_end
  FROM (SELECT session_start, session_end FROM dw.sessions
         WHERE session_date BETWEEN $1::date AND $2::date AND ($3 = '(all)' OR user_login_state = $3)
         ORDER BY session_start DESC LIMIT $4::int) l"

# A page is its path without the query string (the ETL's page_key_sql, clickstream_etl/rules.py, which the
# transitions use; tests/etl/test_rules.py checks this copy). The login state is the session's (dw.sessions), as
# in every other dashboard. Ties in time by event_id, as the
# ETL orders page views for the transitions. Each sampled session's first $4 page views are read by one index range
# scan of events_client_ts_idx (client, session start..end) in time order, stopped after $4 rows and their ties in
# time (WITH TIES: no sort of the session's events; the ties are ordered by event_id after): the work is that of the sample
# (at most PATH_MAX_SESSIONS short scans) whatever the period, so the plan cannot flip with the range (a join of
# the period's events by time, as before, switched between plans with very different costs).
SQL_COMMON_PATHS <- "
WITH s AS (
  SELECT session_id, client_id, session_start, session_end FROM dw.sessions
   WHERE session_date BETWEEN ($1::timestamptz AT TIME ZONE 'UTC')::date AND $2::date
     AND ($3 = '(all)' OR user_login_state = $3) AND session_start >= $1::timestamptz
), p AS (
  SELECT s.session_id,
         array_to_string((array_agg(split_part(v.page_url_path, '?', 1) ORDER BY v.event_timestamp, v.event_id))[1:$4::int],
                         ' → ')
           AS path,
         least(count(*), $4::int) AS pages
    FROM s CROSS JOIN LATERAL (
      SELECT e.event_timestamp, e.event_id, e.page_url_path FROM dw.events e
       WHERE e.client_id = s.client_id AND e.event_timestamp >= s.session_start
         AND e.event_timestamp <= s.session_end AND e.session_id = s.session_id
         AND e.event_name IN ('page_view', 'screen_view') AND e.page_url_path IS NOT NULL
       ORDER BY e.event_timestamp FETCH FIRST ($4::int) ROWS WITH TIES) v
   GROUP BY s.session_id
)
SELECT path, count(*) AS sessions, max(pages) AS pages FROM p
 GROUP BY path ORDER BY sessions DESC, path LIMIT $5::int"

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

landing_pages <- function(q, f, limit = 15) with_share(q(SQL_LANDING_PAGES, c(journey_params(f), limit)), "sessions")
exit_pages <- function(q, f, limit = 15) with_share(q(SQL_EXIT_PAGES, c(journey_params(f), limit)), "sessions")

next_pages <- function(q, f, page, limit = 12) {
  if (is.null(page) || !nzchar(page)) return(data.frame(next_page = character(), transitions = numeric()))
  with_share(q(SQL_NEXT_PAGES, c(journey_params(f), page, limit)), "transitions")
}

page_choices <- function(q, f, limit = 300) q(SQL_PAGE_CHOICES, c(journey_params(f), limit))$page

# -> data.frame(path, sessions, pages) with attribute "sessions_considered" (and "capped" when the period had
# more than max_sessions sessions).
common_paths <- function(q, f, n_pages = 3, limit = 15, max_sessions = PATH_MAX_SESSIONS) {
  n_pages <- as.integer(n_pages)
  if (is.na(n_pages) || n_pages < 1 || n_pages > 10) stop("the number of pages must be between 1 and 10", call. = FALSE)
  per_day <- q(SQL_SESSIONS_PER_DAY, journey_params(f))
  from_day <- path_first_day(per_day, max_sessions, f$start)
  w <- q(SQL_PATH_WINDOW, list(from_day, f$end, f$login_state, max_sessions))
  if (nrow(w) == 0 || num0(w$sessions) == 0) {
    d <- data.frame(path = character(), sessions = numeric(), pages = numeric())
    attr(d, "sessions_considered") <- 0
    return(d)
  }
  d <- q(SQL_COMMON_PATHS, list(w$first_start, f$end, f$login_state, n_pages, limit))
  attr(d, "sessions_considered") <- num0(w$sessions)
  attr(d, "capped") <- num0(w$sessions) >= max_sessions
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

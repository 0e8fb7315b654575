# Times the dashboards' own query functions (files/shiny/app/logic, through RPostgreSQL with bound parameters,
# exactly as the app runs them) and, side by side, baselines computing the same numbers from the raw tables.
# Usage: Rscript bench_queries.R <app_dir> <reps> <baseline_reps> <end_date>   (DW_* settings from the environment;
# baseline_reps 0 skips the baselines, for quick iterations on a kept DW)
# Prints one JSON object: {"queries": [{"dashboard", "query", "ms": [...], "baseline_ms": [...] | null}]}.
args <- commandArgs(trailingOnly = TRUE)
app_dir <- args[1]
reps <- as.integer(args[2])
baseline_reps <- as.integer(args[3])
end <- as.Date(args[4])
for (f in c(file.path(app_dir, "app", c("settings.R", "db.R")), sort(Sys.glob(file.path(app_dir, "app/logic/*.R"))))) {
  source(f)
}
# The app's connection settings, except a longer statement timeout: the raw-table baselines can take longer
# than the app's 20 s limit on 10M events.
q <- make_query_fn(load_settings(), connect = function(s) {
  con <- db_connect(s)
  DBI::dbExecute(con, "SET statement_timeout = '600s'")
  con
})
f7 <- make_filters(c(end - 6, end))
f30 <- make_filters(c(end - 29, end))
fcat <- make_filters(c(end - 6, end), category = "laptops")
fbrand <- make_filters(c(end - 6, end), brand = "Dell", login_state = "logged_in")
p7 <- list(f7$start, f7$end)
# the channel/device/segment filters (dw.agg_hourly_dims)
fch7 <- make_filters(c(end - 6, end), channel = "Organic Search")
fch30 <- make_filters(c(end - 29, end), channel = "Paid Search")
fdev30 <- make_filters(c(end - 29, end), device = "mobile", login_state = "logged_in")
fseg30 <- make_filters(c(end - 29, end), segment = "active")
fall7 <- make_filters(c(end - 6, end), channel = "Direct", device = "desktop", segment = "new")

RAW <- list(
  overview_totals = "SELECT count(*) AS events, count(DISTINCT e.session_id) AS sessions,
                            count(DISTINCT e.client_id) AS users
                       FROM dw.events e WHERE e.event_timestamp >= $1::date AND e.event_timestamp < $2::date + 1",
  overview_hourly = "SELECT date_trunc('hour', event_timestamp) AS h, count(*) FROM dw.events
                      WHERE event_timestamp >= $1::date AND event_timestamp < $2::date + 1 GROUP BY 1 ORDER BY 1",
  funnel_totals = "SELECT count(DISTINCT session_id) FILTER (WHERE event_name = 'view_item'),
                          count(DISTINCT session_id) FILTER (WHERE event_name = 'add_to_cart'),
                          count(DISTINCT session_id) FILTER (WHERE event_name = 'begin_checkout'),
                          count(DISTINCT session_id) FILTER (WHERE event_name = 'purchase')
                     FROM dw.events WHERE event_timestamp >= $1::date AND event_timestamp < $2::date + 1
                      AND event_name IN ('view_item', 'add_to_cart', 'begin_checkout', 'purchase')",
  product_table = "SELECT product_id, count(*) FILTER (WHERE event_name = 'view_item') AS views,
                          count(*) FILTER (WHERE event_name = 'add_to_cart') AS atc,
                          count(*) FILTER (WHERE event_name = 'purchase') AS purchases
                     FROM dw.events WHERE event_timestamp >= $1::date AND event_timestamp < $2::date + 1
                      AND product_id IS NOT NULL GROUP BY product_id",
  landing_pages = "SELECT landing_page, count(*) FROM dw.sessions WHERE session_date BETWEEN $1::date AND $2::date
                    GROUP BY 1 ORDER BY 2 DESC LIMIT 15",
  acq_channels = "SELECT channel_group, count(*), count(*) FILTER (WHERE is_engaged), count(*) FILTER (WHERE is_converted),
                         sum(revenue) FROM dw.sessions WHERE session_date BETWEEN $1::date AND $2::date GROUP BY 1",
  last_run = "SELECT max(event_timestamp) FROM dw.events",
  retention = "WITH w AS (SELECT client_id, date_trunc('week', session_date)::date AS wk, bool_or(is_first_visit) AS fv
                            FROM dw.sessions GROUP BY 1, 2),
                    k AS (SELECT client_id, min(wk) FILTER (WHERE fv) AS c FROM w GROUP BY 1)
               SELECT k.c, w.wk, count(*) FROM w JOIN k USING (client_id) WHERE w.wk >= k.c GROUP BY 1, 2"
)

cases <- list(
  list("Overview", "totals, current + previous period (7 d)", function() {
    overview_totals(q, f7); overview_totals(q, with_period(f7, previous_period(f7$start, f7$end))) }, "overview_totals"),
  list("Overview", "totals, current + previous period (30 d)", function() {
    overview_totals(q, f30); overview_totals(q, with_period(f30, previous_period(f30$start, f30$end))) }, NULL),
  list("Overview", "events/sessions per hour (7 d)", function() overview_hourly(q, f7), "overview_hourly"),
  list("Overview", "per day (30 d)", function() overview_daily(q, f30), NULL),
  list("Overview", "weekday x hour heatmap (30 d)", function() overview_heatmap(q, f30), NULL),
  list("Funnel", "step counts (7 d)", function() funnel_totals(q, f7), "funnel_totals"),
  list("Funnel", "step counts, category (7 d)", function() funnel_totals(q, fcat), NULL),
  list("Funnel", "step counts, brand + login, no category (7 d)", function() funnel_totals(q, fbrand), NULL),
  list("Funnel", "split by category (7 d)", function() funnel_split(q, f7, "category"), NULL),
  list("Funnel", "split by brand (7 d)", function() funnel_split(q, f7, "brand"), NULL),
  list("Funnel", "conversion trend by day (30 d)", function() funnel_trend(q, f30), NULL),
  list("Products", "product table (7 d)", function() product_table(q, f7), "product_table"),
  list("Products", "product table (30 d)", function() product_table(q, f30), NULL),
  list("Products", "by category (7 d)", function() product_groups(q, f7, "category"), NULL),
  list("Journeys", "landing pages (7 d)", function() landing_pages(q, f7), "landing_pages"),
  list("Journeys", "exit pages (7 d)", function() exit_pages(q, f7), NULL),
  list("Journeys", "next pages from '/' (7 d)", function() next_pages(q, f7, "/"), NULL),
  list("Journeys", "page choices (7 d)", function() page_choices(q, f7), NULL),
  list("Journeys", "common paths, first 3 pages (7 d)", function() common_paths(q, f7, 3), NULL),
  list("Journeys", "common paths, first 3 pages (1 d)", function() common_paths(q, make_filters(c(end, end)), 3), NULL),
  list("Journeys", "common paths, first 3 pages (30 d)", function() common_paths(q, f30, 3), NULL),
  list("Retention", "new-client cohorts (12 weeks)", function() retention(q, f7, "clients"), "retention"),
  list("Retention", "purchaser cohorts (12 weeks)", function() retention(q, f7, "purchasers"), NULL),
  list("Retention", "segment overview", function() segment_overview(q, f7), NULL),
  list("Acquisition", "channels, last non-direct (7 d)", function() acquisition_channels(q, f7, "last_non_direct"),
       "acq_channels"),
  list("Acquisition", "channels, first touch (30 d)", function() acquisition_channels(q, f30, "first_touch"), NULL),
  list("Acquisition", "channels, linear, logged in (30 d)",
       function() acquisition_channels(q, make_filters(c(end - 29, end), login_state = "logged_in"), "linear"), NULL),
  list("Acquisition", "campaigns, last non-direct (7 d)", function() acquisition_campaigns(q, f7, "last_non_direct"),
       NULL),
  list("Acquisition", "campaigns, linear (30 d)", function() acquisition_campaigns(q, f30, "linear"), NULL),
  list("Pipeline", "last run + recent runs", function() { last_run(q); recent_runs(q) }, NULL),
  list("Pipeline", "load totals", function() load_totals(q), NULL),
  list("Pipeline", "rejects by reason", function() rejects_by_reason(q), NULL),
  list("Pipeline", "data freshness (newest event)", function() freshness(q), "last_run"),
  list("Filters", "category/brand choices", function() filter_choices(q, end - 366), NULL),
  list("Overview", "totals, channel, current + previous (7 d)", function() {
    overview_totals(q, fch7); overview_totals(q, with_period(fch7, previous_period(fch7$start, fch7$end))) }, NULL),
  list("Overview", "totals, channel, current + previous (30 d)", function() {
    overview_totals(q, fch30); overview_totals(q, with_period(fch30, previous_period(fch30$start, fch30$end))) },
    NULL),
  list("Overview", "totals, channel + device + segment (7 d)", function() overview_totals(q, fall7), NULL),
  list("Overview", "per hour, channel (7 d)", function() overview_hourly(q, fch7), NULL),
  list("Overview", "per day, device + login (30 d)", function() overview_daily(q, fdev30), NULL),
  list("Overview", "heatmap, segment (30 d)", function() overview_heatmap(q, fseg30), NULL),
  list("Funnel", "step counts, channel (7 d)", function() funnel_totals(q, fch7), NULL),
  list("Funnel", "step counts, segment (30 d)", function() funnel_totals(q, fseg30), NULL),
  list("Funnel", "split by channel (30 d)", function() funnel_split(q, f30, "channel"), NULL),
  list("Funnel", "split by segment, device (30 d)", function() funnel_split(q, fdev30, "segment"), NULL),
  list("Funnel", "conversion trend, segment (30 d)", function() funnel_trend(q, fseg30), NULL),
  list("Filters", "channel/device choices", function() dims_choices(q, end - 366), NULL),
  # products, acquisition and the users KPI under the channel/device/segment filters (sql/dw/0046, 0047)
  list("Overview", "totals with users, device + segment, current + previous (30 d)", function() {
    f <- make_filters(c(end - 29, end), device = "mobile", segment = "new")
    overview_totals(q, f); overview_totals(q, with_period(f, previous_period(f$start, f$end))) }, NULL),
  list("Products", "product table, channel (7 d)", function() product_table(q, fch7), NULL),
  list("Products", "product table, device + login (30 d)", function() product_table(q, fdev30), NULL),
  list("Products", "by category, segment (30 d)", function() product_groups(q, fseg30, "category"), NULL),
  list("Acquisition", "channels, channel filter (30 d)", function() acquisition_channels(q, fch30, "linear"), NULL),
  list("Acquisition", "channels, device + login (30 d)", function() acquisition_channels(q, fdev30), NULL),
  list("Acquisition", "campaigns, segment (30 d)", function() acquisition_campaigns(q, fseg30), NULL),
  # Journeys and Retention under the channel/device/segment filters (sql/dw/0048), and common paths filtered
  list("Journeys", "landing pages, channel (7 d)", function() landing_pages(q, fch7), NULL),
  list("Journeys", "exit pages, device + login (30 d)", function() exit_pages(q, fdev30), NULL),
  list("Journeys", "next pages from '/', segment (30 d)", function() next_pages(q, fseg30, "/"), NULL),
  list("Journeys", "page choices, channel + device + segment (7 d)", function() page_choices(q, fall7), NULL),
  list("Journeys", "common paths, first 3 pages, channel (7 d)", function() common_paths(q, fch7, 3), NULL),
  list("Journeys", "common paths, first 3 pages, channel (1 d)",
       function() common_paths(q, make_filters(c(end, end), channel = "Organic Search"), 3), NULL),
  list("Journeys", "common paths, first 3 pages, device + login (30 d)", function() common_paths(q, fdev30, 3), NULL),
  list("Journeys", "common paths, first 3 pages, channel + device + segment (7 d)",
       function() common_paths(q, fall7, 3), NULL),
  list("Journeys", "common paths, first 5 pages, rare channel + device + segment (30 d)",
       function() common_paths(q, make_filters(c(end - 29, end), channel = "Email", device = "tablet",
                                               segment = "lost"), 5), NULL),
  list("Retention", "new-client cohorts, channel (12 weeks)", function() retention(q, fch7, "clients"), NULL),
  list("Retention", "purchaser cohorts, device + segment (12 weeks)",
       function() retention(q, make_filters(c(end - 6, end), device = "mobile", segment = "active"), "purchasers"),
       NULL),
  # the attribution model's credit under the device and segment filters (sql/dw/0054)
  list("Acquisition", "channels, first touch, device + segment (30 d)",
       function() acquisition_channels(q, make_filters(c(end - 29, end), device = "mobile", segment = "new"),
                                       "first_touch"), NULL),
  list("Acquisition", "campaigns, linear, channel + device (30 d)",
       function() acquisition_campaigns(q, make_filters(c(end - 29, end), channel = "Organic Search",
                                                        device = "mobile"), "linear"), NULL)
)

time_ms <- function(fn, n) {
  fn()  # warm-up (plans, caches)
  vapply(seq_len(n), function(i) { t0 <- proc.time()[["elapsed"]]; fn(); 1000 * (proc.time()[["elapsed"]] - t0) }, 0)
}

out <- lapply(cases, function(cs) {
  base <- if (is.null(cs[[4]]) || baseline_reps == 0) NULL else {
    sql <- RAW[[cs[[4]]]]
    params <- if (grepl("$1", sql, fixed = TRUE)) p7 else list()
    time_ms(function() q(sql, params), baseline_reps)
  }
  list(dashboard = cs[[1]], query = cs[[2]], ms = time_ms(cs[[3]], reps), baseline_ms = base)
})
cat(jsonlite::toJSON(list(queries = out), auto_unbox = TRUE, null = "null", digits = 6))

# Unit tests of the pure logic (no database, no Shiny session). Run: Rscript tests/test_logic.R (from files/shiny).
# Base R only (testthat is not packaged for the servers): each check() prints "ok"/"FAIL" and the script exits
# non-zero on any failure; the last line is "N passed, N failed".
for (f in c(sort(Sys.glob("app/*.R")), sort(Sys.glob("app/logic/*.R")), sort(Sys.glob("app/view/*.R")))) source(f)

passed <- 0
failed <- 0
check <- function(name, expr) {
  ok <- tryCatch(isTRUE(expr), error = function(e) { message("  error: ", conditionMessage(e)); FALSE })
  if (ok) passed <<- passed + 1 else failed <<- failed + 1
  cat(if (ok) "ok  " else "FAIL", name, "\n")
}
throws <- function(expr, pattern) {
  msg <- tryCatch({ force(expr); "" }, error = function(e) conditionMessage(e))
  nzchar(msg) && grepl(pattern, msg)
}

# settings --------------------------------------------------------------------------------------------------
cfg <- parse_config_lines(c("# comment", "", "DW_HOST=db.internal", "export DW_PORT=6543", "DW_PASSWORD='p=a#ss'",
                            "DW_USER = \"reader\""))
check("config file: KEY=VALUE, export, quotes, '=' and '#' inside values",
      identical(cfg, list(DW_HOST = "db.internal", DW_PORT = "6543", DW_PASSWORD = "p=a#ss", DW_USER = "reader")))
check("config file: a line without '=' is an error", throws(parse_config_lines("garbage"), "KEY=VALUE"))
tmp <- tempfile()
writeLines(c("DW_HOST=from-file", "DW_PORT=5434", "DW_NAME=clickstream_dw", "DW_PASSWORD=secret"), tmp)
s <- load_settings(c(CLICKSTREAM_DB_CONFIG = tmp, DW_HOST = "from-env"))
check("settings: file read, environment wins, defaults fill the rest",
      s$DW_HOST == "from-env" && s$DW_PORT == 5434L && s$DW_PASSWORD == "secret" && s$DW_USER == "dashboard_reader")
check("settings: missing file is a clear error",
      throws(load_settings(c(CLICKSTREAM_DB_CONFIG = "/nonexistent/db.env")), "does not exist"))
check("settings: bad port is a clear error", throws(load_settings(c(DW_PORT = "54x")), "DW_PORT"))
check("settings: description never contains the password", !grepl("secret", describe_settings(s)))

# bound parameters ----------------------------------------------------------------------------------------------
check("params: dates as ISO text, numbers as text",
      identical(bind_params(list(as.Date("2024-05-01"), 3L, "x'; DROP")), list("2024-05-01", "3", "x'; DROP")))
check("params: NA refused (RPostgreSQL would send the string 'NA')", throws(bind_params(list(NA_character_)), "NA"))
check("params: vectors refused", throws(bind_params(list(c("a", "b"))), "single"))

# filters -------------------------------------------------------------------------------------------------------
today <- as.Date("2024-05-10")
check("preset today", identical(preset_range("today", today), c(today, today)))
check("preset last 7 days", identical(preset_range("last7", today), c(as.Date("2024-05-04"), today)))
check("preset last 30 days", identical(preset_range("last30", today), c(as.Date("2024-04-11"), today)))
check("previous period of a week", identical(previous_period(as.Date("2024-05-04"), today),
                                             c(as.Date("2024-04-27"), as.Date("2024-05-03"))))
f <- make_filters(c("2024-05-10", "2024-05-01"), category = NULL, brand = "", login_state = NA)
check("filters: dates ordered, empty choices mean all",
      f$start == as.Date("2024-05-01") && f$end == today && f$category == ALL && f$brand == ALL && f$login_state == ALL)
check("filters: text kept as typed (bound later)", make_filters(c(today, today), "'; DROP TABLE events; --")$category ==
        "'; DROP TABLE events; --")
check("filters: range capped", as.integer(make_filters(c("2000-01-01", "2024-01-01"))$end -
                                            make_filters(c("2000-01-01", "2024-01-01"))$start) + 1 == MAX_RANGE_DAYS)
check("dates input: list from the browser", identical(parse_dates(list("2024-05-01", "2024-05-02")),
                                                      as.Date(c("2024-05-01", "2024-05-02"))))
check("dates input: garbage is NULL", is.null(parse_dates(list("2024-05-01", "'; DROP"))) &&
        is.null(parse_dates("2024-05-01")))

# calculations --------------------------------------------------------------------------------------------------
check("safe_ratio vectorised, zero and NA denominators", identical(safe_ratio(c(1, 2, 3), c(2, 0, NA)), c(0.5, NA, NA)))
check("safe_ratio scalar denominator", identical(safe_ratio(c(1, 3), 4), c(0.25, 0.75)))
st <- funnel_steps(c(200, 50, 20, 10))
check("funnel: step-to-step, overall, drop-off",
      isTRUE(all.equal(st$step_conversion, c(NA, 0.25, 0.4, 0.5))) &&
        isTRUE(all.equal(st$overall_conversion, c(1, 0.25, 0.1, 0.05))) &&
        identical(st$drop_off, c(NA, 150, 30, 10)) && isTRUE(all.equal(st$drop_off_rate, c(NA, 0.75, 0.6, 0.5))))
check("funnel: empty counts", !funnel_has_data(c(0, 0, 0, 0)) && all(is.na(funnel_steps(c(0, 0, 0, 0))$step_conversion[-1])))
k <- overview_kpis(list(events = 110, sessions = 10, users = 5, converted_sessions = 2, revenue = 50, page_views = 1),
                   list(events = 100, sessions = 10, users = 0, converted_sessions = 1, revenue = 0, page_views = 1))
check("overview: relative change for counts, points for the conversion rate, NA when previous is 0",
      isTRUE(all.equal(k$change[k$metric == "events"], 0.1)) &&
        isTRUE(all.equal(k$change[k$metric == "conversion_rate"], 0.1)) &&
        k$change_kind[k$metric == "conversion_rate"] == "points" && is.na(k$change[k$metric == "users"]))
products <- with_rates(data.frame(
  product_id = paste0("p", 1:8), product_name = NA, product_category = "c", product_brand = "b",
  views = c(100, 90, 80, 40, 30, 20, 5, 2), add_to_carts = c(1, 20, 18, 8, 6, 4, 5, 2),
  purchases = c(0, 5, 4, 2, 1, 1, 3, 2), units = 0, revenue = c(0, 500, 400, 200, 100, 100, 300, 900),
  viewing_sessions = 1, stringsAsFactors = FALSE))
check("callout: many views and a low add-to-cart rate", identical(low_cart_products(products)$product_id, "p1"))
check("callout: nothing to call out on no data", nrow(low_cart_products(products[0, ])) == 0)
check("top products: rates ignore products under 10 views",
      !any(top_products(products, "cart_rate")$product_id %in% c("p7", "p8")) &&
        top_products(products, "revenue", n = 1)$product_id == "p8")
check("top products: unknown metric refused", throws(top_products(products, "evil"), "unknown metric"))

# pipeline ------------------------------------------------------------------------------------------------------
check("freshness status", freshness_status(60, 90, 360) == "ok" && freshness_status(100 * 60, 90, 360) == "warn" &&
        freshness_status(400 * 60, 90, 360) == "stale" && freshness_status(NA, 90, 360) == "empty")
check("verdict: ok only when the run succeeded and data is fresh",
      pipeline_verdict("succeeded", "ok")$level == "ok" && pipeline_verdict("failed", "ok")$level == "bad" &&
        pipeline_verdict("succeeded", "stale")$level == "bad" && pipeline_verdict("partial", "ok")$level == "warn" &&
        pipeline_verdict(NA, "empty")$level == "bad")
check("verdict: quarantined files make fresh data incomplete, never hide a failure",
      pipeline_verdict("succeeded", "ok", 2)$level == "warn" && pipeline_verdict("failed", "ok", 2)$level == "bad" &&
        pipeline_verdict("succeeded", "ok", 0)$level == "ok")
check("reason label: the field in brackets when there is one",
      identical(reason_label(c("invalid_value", "not_an_object", "x"), c("event_name", "", NA)),
                c("invalid_value (event_name)", "not_an_object", "x")))
rj <- data.frame(reason = c("b", "a", "b", "c"), field = c("f1", "", "f2", ""), rejects = c(2, 5, 4, 1))
check("rejects per reason: summed over fields, largest first",
      identical(rejects_per_reason(rj)$reason, c("b", "a", "c")) && identical(rejects_per_reason(rj)$rejects, c(6, 5, 1)) &&
        nrow(rejects_per_reason(rj[0, ])) == 0)
check("short error: class's last name, the message's first line, cut to width",
      short_error("psycopg2.errors.ProgramLimitExceeded", "index row size 4016\nDETAIL: x") ==
        "ProgramLimitExceeded: index row size 4016" &&
        nchar(short_error("a.B", strrep("x", 500), width = 40)) == 40)

# journeys ------------------------------------------------------------------------------------------------------
check("common paths: N outside 1..5 refused before any query", throws(common_paths(function(...) stop("no"), list(), 6),
                                                                       "between 1 and 5"))
check("paths: text array literal, quotes and backslashes escaped",
      pg_text_array(c("Organic Search", 'a"b', "c\\d")) == '{"Organic Search","a\\"b","c\\\\d"}')
fdims <- make_filters(as.Date(c("2024-05-01", "2024-05-10")), channel = "Email")
stub <- function(sql, params) data.frame(activity_date = as.Date(c("2024-05-10", "2024-05-09", "2024-05-09", "2024-05-02")),
                                         user_login_state = c("logged_in", "logged_out", "logged_out", "logged_in"),
                                         channel_group = "Email", device_category = c("mobile", "desktop", "tablet", "bot"),
                                         segment = c("new", "lost", "new", "active"), sessions = c(1, 2, 1, 5))
ps <- path_sample(stub, fdims, 3)
check("paths under a filter: the days holding the newest N matching sessions, the values seen in them",
      ps$start == as.Date("2024-05-09") && identical(ps$device, c("desktop", "mobile", "tablet")) &&
        identical(ps$segment, c("lost", "new")) && identical(ps$login, c("logged_in", "logged_out")))
check("paths under a filter that matches nothing: no sample", is.null(path_sample(function(...) stub(0, 0)[0, ], fdims, 3)))
check("next pages: no page chosen -> empty, no query", nrow(next_pages(function(...) stop("no"), list(), "")) == 0)
pd <- data.frame(activity_date = as.Date(c("2024-05-10", "2024-05-09", "2024-05-08")), sessions = c(1000, 2500, 4000))
check("paths: first day holding the newest N sessions", path_first_day(pd, 3000, as.Date("2024-05-01")) ==
        as.Date("2024-05-09") && path_first_day(pd, 900, as.Date("2024-05-01")) == as.Date("2024-05-10") &&
        path_first_day(pd, 99999, as.Date("2024-05-01")) == as.Date("2024-05-01"))
lay <- flow_layout(data.frame(next_page = c("/a", "/b"), transitions = c(3, 1)), "/")
check("flow layout: one band per next page, left to right", all(lay$x_from == 0) && all(lay$x_to == 1) &&
        lay$y[1] > lay$y[2])

# retention -----------------------------------------------------------------------------------------------------
check("retention: ISO weeks start on Monday", week_start(as.Date("2024-05-05")) == as.Date("2024-04-29") &&
        week_start(as.Date("2024-05-06")) == as.Date("2024-05-06"))
cw <- cohort_weeks(make_filters(c("2024-05-01", "2024-05-22")), min_weeks = 2)
check("retention: cohorts from the period's first week, at least min_weeks back",
      identical(cw, as.Date(c("2024-04-29", "2024-05-20"))) &&
        identical(cohort_weeks(make_filters(c("2024-05-21", "2024-05-22")), min_weeks = 3),
                  as.Date(c("2024-05-06", "2024-05-20"))))
rd <- data.frame(cohort_week = as.Date(c("2024-04-29", "2024-04-29", "2024-04-29", "2024-05-06")),
                 active_week = as.Date(c("2024-04-29", "2024-05-06", "2024-05-20", "2024-05-06")),
                 clients = c(4, 2, 1, 5))
rm_ <- retention_matrix(rd, as.Date("2024-05-20"))
# cohort 04-29: 4 clients; week 1: 2 (50%), week 2: none (0%), week 3: 1 (25%); cohort 05-06: 5, weeks 0..2
check("retention matrix: shares of the week-0 size, missing weeks 0, up to the last week begun",
      nrow(rm_) == 7 && identical(rm_$share[rm_$cohort_week == as.Date("2024-04-29")], c(1, 0.5, 0, 0.25)) &&
        identical(rm_$clients[rm_$cohort_week == as.Date("2024-05-06")], c(5, 0, 0)))
rw <- retention_wide(rm_)
check("retention wide: one row per cohort, a column per week, NA where the week has not begun",
      nrow(rw) == 2 && identical(rw$size, c(4, 5)) && is.na(rw$week_3[2]) && rw$week_1[1] == 0.5)
check("retention matrix: no rows -> empty", nrow(retention_matrix(rd[0, ], as.Date("2024-05-20"))) == 0)
so <- segment_overview(function(sql, p) data.frame(as_of = as.Date("2024-06-30"), segment = c("lost", "new"),
                                                   clients = c(3, 1), purchasers = c(0, 1), revenue = c(0, 20)),
                       make_filters(c("2024-06-01", "2024-06-30")))
check("segments: every segment in order, missing ones 0, shares of all clients",
      identical(so$segment, c("new", "active", "loyal", "at_risk", "lost")) && identical(so$clients, c(1, 0, 0, 0, 3)) &&
        identical(so$share, c(0.25, 0, 0, 0, 0.75)) && attr(so, "as_of") == as.Date("2024-06-30"))
check("segments: no day computed -> as_of NA",
      is.na(attr(segment_overview(function(sql, p) data.frame(), make_filters(c("2024-06-01", "2024-06-30"))), "as_of")))

# acquisition ---------------------------------------------------------------------------------------------------
acq_calls <- list()
acq_q <- function(sql, p) {
  acq_calls[[length(acq_calls) + 1]] <<- p
  data.frame(channel_group = c("Direct", "Email"), sessions = c(8, 2), engaged_sessions = c(4, 2),
             converted_sessions = c(2, 0), new_sessions = c(5, 1), session_revenue = c(30, 0), purchases = c(0.5, 1.5),
             revenue = c(10, 20))
}
fa <- make_filters(c("2024-05-01", "2024-05-07"), login_state = "logged_in")
ch <- acquisition_channels(acq_q, fa, "first_touch")
check("acquisition: period, login state, model and channel ('(all)') bound in order",
      identical(bind_params(acq_calls[[1]]), list("2024-05-01", "2024-05-07", "logged_in", "first_touch", ALL)))
check("acquisition: rates of each channel's sessions, credited revenue per session",
      identical(ch$engagement_rate, c(0.5, 1)) && identical(ch$conversion_rate, c(0.25, 0)) &&
        identical(ch$revenue_per_session, c(1.25, 10)))
tot <- acquisition_totals(ch)
check("acquisition: the totals row sums the channels and takes the rates of the sums",
      tot$sessions == 10 && tot$purchases == 2 && tot$revenue == 30 && tot$engagement_rate == 0.6 &&
        tot$conversion_rate == 0.2 && tot$revenue_per_session == 3)
invisible(acquisition_campaigns(acq_q, fa, "no-such-model"))
check("acquisition: an unknown model falls back to the default, the campaign limit is bound",
      identical(bind_params(acq_calls[[2]]), list("2024-05-01", "2024-05-07", "logged_in", DEFAULT_MODEL,
                                                  as.character(CAMPAIGN_LIMIT), ALL)))
check("acquisition: every model of dw.agg_daily_attribution offered",
      setequal(ATTRIBUTION_MODELS, c("first_touch", "last_non_direct", "linear")))
seen <- list()
acq_spy <- function(sql, p) { seen[[length(seen) + 1]] <<- list(sql = sql, p = p); acq_q(sql, p) }
invisible(acquisition_channels(acq_spy, make_filters(c("2024-05-01", "2024-05-07"), channel = "Email")))
ch_dev <- acquisition_channels(acq_spy, make_filters(c("2024-05-01", "2024-05-07"), device = "mobile",
                                                     segment = "loyal"), "linear")
invisible(acquisition_campaigns(acq_spy, make_filters(c("2024-05-01", "2024-05-07"), segment = "new")))
check("acquisition: the channel narrows the rows of both the sessions and the credit, on today's tables",
      !grepl("_dims", seen[[1]]$sql, fixed = TRUE) && seen[[1]]$p[[5]] == "Email" &&
        !acq_dims_filtered(make_filters(c("2024-05-01", "2024-05-07"), channel = "Email")))
check("acquisition: device and segment read the sessions and the credit from the *_dims aggregates, model bound",
      grepl("dw.agg_daily_acquisition_dims", seen[[2]]$sql, fixed = TRUE) &&
        grepl("dw.agg_daily_attribution_dims", seen[[2]]$sql, fixed = TRUE) &&
        !grepl("dw.agg_daily_attribution ", seen[[2]]$sql, fixed = TRUE) && length(seen[[2]]$p) == 7 &&
        seen[[2]]$p[[5]] == "mobile" && seen[[2]]$p[[6]] == "loyal" && seen[[2]]$p[[7]] == "linear" &&
        identical(ch_dev$revenue, c(10, 20)) && acquisition_totals(ch_dev)$revenue == 30 &&
        grepl("dw.agg_daily_attribution_dims", seen[[3]]$sql, fixed = TRUE) && length(seen[[3]]$p) == 8 &&
        seen[[3]]$p[[6]] == "new" && seen[[3]]$p[[7]] == DEFAULT_MODEL && seen[[3]]$p[[8]] == CAMPAIGN_LIMIT)
# channel, device and segment filters (logic/filters.R): the overview and the funnel read dw.agg_hourly_dims
fd <- make_filters(c("2024-06-01", "2024-06-07"), channel = "Organic Search", device = NULL, segment = "at_risk")
check("dims filters: kept, NULL is no filter, described",
      fd$channel == "Organic Search" && fd$device == ALL && fd$segment == "at_risk" && dims_filtered(fd) &&
        !dims_filtered(make_filters(c("2024-06-01", "2024-06-07"))) &&
        grepl("channel Organic Search, segment at_risk", describe_filters(fd), fixed = TRUE))
seen <- list()
spy <- function(sql, p) { seen[[length(seen) + 1]] <<- list(sql = sql, p = p); data.frame(events = 5, page_views = 2,
  sessions = 3, converted_sessions = 1, revenue = 9, users = 4) }
t_dims <- overview_totals(spy, fd)
t_plain <- overview_totals(spy, make_filters(c("2024-06-01", "2024-06-07")))
check("dims filters: the overview reads dw.agg_hourly_dims and users from dw.agg_daily_users_dims, six parameters",
      grepl("dw.agg_hourly_dims", seen[[1]]$sql, fixed = TRUE) && length(seen[[1]]$p) == 6 &&
        grepl("dw.agg_daily_users_dims", seen[[1]]$sql, fixed = TRUE) &&
        seen[[1]]$p[[4]] == "Organic Search" && seen[[1]]$p[[6]] == "at_risk" && t_dims$users == 4 &&
        !grepl("agg_hourly_dims", seen[[2]]$sql, fixed = TRUE) && t_plain$users == 4)
seen <- list()
spy_f <- function(sql, p) { seen[[length(seen) + 1]] <<- list(sql = sql, p = p)
  data.frame(segment = "x", view_item_sessions = 4, add_to_cart_sessions = 2, begin_checkout_sessions = 1,
             purchase_sessions = 1) }
fc <- make_filters(c("2024-06-01", "2024-06-07"), category = "mice", device = "mobile")
invisible(funnel_totals(spy_f, fc)); s_cat <- funnel_split(spy_f, fc, "category"); s_dev <- funnel_split(spy_f, fc, "device")
check("dims filters: the funnel reads dw.agg_hourly_dims, ignores category (said), splits by device, not by category",
      grepl("dw.agg_hourly_dims", seen[[1]]$sql, fixed = TRUE) && funnel_ignores_products(fc) && nrow(s_cat) == 0 &&
        length(seen) == 2 && grepl("GROUP BY device_category", seen[[2]]$sql, fixed = TRUE) && nrow(s_dev) == 1)
seen <- list()
spy_p <- function(sql, p) { seen[[length(seen) + 1]] <<- list(sql = sql, p = p)
  data.frame(product_id = "p1", product_name = "P", product_category = "c", product_brand = "b", segment = "c",
             views = 4, add_to_carts = 1, purchases = 1, units = 1, revenue = 5, viewing_sessions = 3) }
fp <- make_filters(c("2024-06-01", "2024-06-07"), brand = "b", device = "tablet")
pt <- product_table(spy_p, fp); pg <- product_groups(spy_p, fp, "brand")
invisible(product_table(spy_p, make_filters(c("2024-06-01", "2024-06-07"))))
check("dims filters: products read dw.agg_daily_product_dims with category, brand and the three dims bound",
      grepl("dw.agg_daily_product_dims", seen[[1]]$sql, fixed = TRUE) && length(seen[[1]]$p) == 8 &&
        seen[[1]]$p[[4]] == "b" && seen[[1]]$p[[7]] == "tablet" && seen[[1]]$p[[8]] == ALL && pt$cart_rate == 0.25 &&
        grepl("agg_daily_product_dims", seen[[2]]$sql, fixed = TRUE) &&
        grepl("GROUP BY product_brand", seen[[2]]$sql, fixed = TRUE) && pg$purchase_conversion == 0.25 &&
        !grepl("_dims", seen[[3]]$sql, fixed = TRUE) && length(seen[[3]]$p) == 5)

# the SQL is parameterised: no query text is built from a filter value
check("anomalies: the metric names its subject when there is one",
      identical(anomaly_metric(c("volume", "reject_rate", "conversion"), c("(all)", "", "begin_checkout>purchase")),
                c("volume (all)", "reject_rate", "conversion begin_checkout>purchase")))
check("anomalies: counts as integers, rates as percentages",
      identical(anomaly_value(c("volume", "reject_rate"), c(12345.4, 0.0712)), c("12,345", "7.12 %")))
all_sql <- unlist(mget(ls(pattern = "^SQL_"), envir = globalenv()))
check("every query uses $n placeholders and no sprintf/paste of values", all(!grepl("%s", all_sql, fixed = TRUE)))

cat(sprintf("%d passed, %d failed\n", passed, failed))
quit(status = if (failed == 0) 0 else 1)
